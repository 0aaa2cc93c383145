package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/armsbot/armsbot/commands/catalog"
)

// IM robots (Alert Management): a group chat's robot, registered so that
// notification policies can send it alerts. Its signing secret and its
// access token are credentials: the secret is taken only in a one-to-one
// chat, and neither is ever shown, logged, audited or kept.

// robotKey names a robot's address (the token hashed: it is a credential).
func robotKey(webhook string) string {
	sum := sha256.Sum256([]byte(webhook))
	return "robot:" + hex.EncodeToString(sum[:16])
}

// SecretWithheld stands in a message's text for a signing secret: the bot
// keeps no secret, so a message taken over from another process, whose
// text was stored without it, cannot send it (RedactSecrets).
const SecretWithheld = "(withheld)"

// robotRule: the signing secret is a credential; typed in a group chat it
// has been seen by everyone there.
func robotRule(c *Call) *Error {
	if c.Has("secret") && !c.Msg.Private {
		return &Error{Code: EINVALID, Key: "robot.secret_in_group"}
	}
	return nil
}

func (r *Runner) findRobot(ctx context.Context, id string) (Robot, error) {
	rbs, err := r.robots.SearchRobots(ctx, RobotQuery{IDs: []string{id}})
	if err != nil {
		return Robot{}, fmt.Errorf("find robot %s: %w", id, err)
	}
	for _, rb := range rbs {
		if rb.ID == id {
			return rb, nil
		}
	}
	return Robot{}, &Error{Code: ENOTFOUND, Key: "robot.not_found", Args: []any{id}, Err: ErrNotFound}
}

// robotWithAddress finds the robot registered at webhook, if any.
func (r *Runner) robotWithAddress(ctx context.Context, webhook string) (Robot, bool, error) {
	rbs, err := r.robots.SearchRobots(ctx, RobotQuery{})
	if err != nil {
		return Robot{}, false, fmt.Errorf("search robots: %w", err)
	}
	for _, rb := range rbs {
		if rb.Webhook == webhook {
			return rb, true, nil
		}
	}
	return Robot{}, false, nil
}

// robotAdd registers a group chat's robot. A robot at the same address is
// not registered twice: ARMS does not say it refuses one.
func (r *Runner) robotAdd(ctx context.Context, c *Call) (Result, error) {
	rb := Robot{Name: c.Get("name"), Webhook: c.Get("webhook"), Secret: c.Get("secret")}
	if d := c.Get("daily"); d != "" {
		rb.Daily = strings.Split(d, ",")
	}
	if c.Bool("dry-run") {
		return r.dryRun(c, []Write{{Action: "robot create", Robot: rb}}, Result{})
	}
	key := robotKey(rb.Webhook)
	if err := c.Journal.Serialize(ctx, key); err != nil {
		return Result{}, err
	}
	if err := r.awaitPrior(ctx, c); err != nil {
		return Result{}, err
	}
	found, exists, err := r.robotWithAddress(ctx, rb.Webhook)
	if err != nil {
		return Result{}, err
	}
	if w, _, ok := c.Journal.Prior(); ok && w.Action == "robot create" && exists {
		// An earlier owner of this message registered it.
		return r.robotAdded(c, found, Receipt{RobotID: found.ID}), nil
	}
	if exists {
		return Result{}, &Error{Code: ECONFLICT, Key: "robot.exists", Args: []any{found.Name, found.ID}}
	}
	if rb.Secret == SecretWithheld {
		return Result{}, &Error{Code: EINVALID, Key: "robot.secret_withheld"}
	}
	rc, _, err := write(ctx, c.Journal, Write{Action: "robot create", Robot: rb}, []string{key}, func(ctx context.Context) (Receipt, error) {
		return r.robots.CreateRobot(ctx, rb)
	})
	if err != nil {
		return Result{}, fmt.Errorf("create robot: %w", err)
	}
	rb.ID, rb.Signed = rc.RobotID, rb.Secret != ""
	return r.robotAdded(c, rb, rc), nil
}

func (r *Runner) robotAdded(c *Call, rb Robot, rc Receipt) Result {
	lines := []string{r.lang.T("robot.added", rb.Name, rb.ID), strings.Join(r.robotLines(rb), "\n")}
	if !rb.Signed {
		lines = append(lines, r.lang.T("robot.keyword"))
	}
	lines = append(lines, r.lang.T("robot.next", rb.ID))
	if rc.RequestID != "" {
		lines = append(lines, r.lang.T("field.request_id")+": "+rc.RequestID)
	}
	return Result{Text: strings.Join(lines, "\n\n"), RobotID: rb.ID, RequestID: rc.RequestID}
}

// robotLines shows a robot: its address with the token masked, whether it
// signs, its daily summaries. Never the secret.
func (r *Runner) robotLines(rb Robot) []string {
	signed := r.lang.T("robot.unsigned")
	if rb.Signed {
		signed = r.lang.T("robot.signed")
	}
	lines := []string{
		"- " + r.lang.T("field.webhook") + ": " + webhookShown(rb.Webhook, true),
		"- " + signed,
	}
	if len(rb.Daily) > 0 {
		lines = append(lines, "- "+r.lang.T("robot.daily", strings.Join(rb.Daily, ", ")))
	}
	return lines
}

func (r *Runner) robotList(ctx context.Context, c *Call) (Result, error) {
	rbs, err := r.robots.SearchRobots(ctx, RobotQuery{Name: c.Get("name")})
	if err != nil {
		return Result{}, fmt.Errorf("list robots: %w", err)
	}
	if len(rbs) == 0 {
		return Result{Text: r.lang.T("robot.none")}, nil
	}
	items := []string{r.lang.T("robot.list_header", len(rbs))}
	for _, rb := range rbs {
		line := "- **" + catalog.Inert(rb.Name) + "** (RobotId " + catalog.Inert(rb.ID) + ") · " + webhookShown(rb.Webhook, true)
		if rb.Signed {
			line += " · " + r.lang.T("robot.signed")
		}
		line += " · " + r.lang.T("robot.policies", len(rb.Policies))
		items = append(items, line)
	}
	return Result{Text: strings.Join(items, "\n")}, nil
}

func (r *Runner) robotShow(ctx context.Context, c *Call) (Result, error) {
	rb, err := r.findRobot(ctx, c.Get("id"))
	if err != nil {
		return Result{}, err
	}
	ps, err := r.policiesNow(ctx)
	if err != nil {
		return Result{}, err
	}
	lines := []string{r.lang.T("robot.show", rb.Name, rb.ID), strings.Join(r.robotLines(rb), "\n"),
		r.lang.T("where.robot") + "\n" + r.reachLines(reaching(ps, ReceiverRobot, rb.ID, nil, rb.Policies))}
	return Result{Text: strings.Join(lines, "\n\n"), RobotID: rb.ID}, nil
}

// robotDelete, like every delete, shows what would go and which policies
// name the robot, and asks for a code.
func (r *Runner) robotDelete(ctx context.Context, c *Call) (Result, error) {
	rb, err := r.findRobot(ctx, c.Get("id"))
	if err != nil {
		return Result{}, err
	}
	force := c.Bool("force")
	g, err := r.guard(ctx, c, change{robot: rb.ID}, r.lang.T("what.robot", rb.Name, rb.ID), force)
	if err != nil {
		return Result{}, err
	}
	impact := r.impactLines(g, ReceiverRobot, rb.ID, nil, rb.Policies)
	if c.Bool("dry-run") {
		res, err := r.dryRun(c, []Write{{Action: "robot delete", Robot: rb}}, Result{RobotID: rb.ID, Policies: g.names()})
		res.Text = strings.Join(append(impact, res.Text), "\n\n")
		return res, err
	}
	how, err := r.propose(ctx, c, Pending{Action: "robot delete", RobotID: rb.ID, Name: rb.Name, Force: force})
	if err != nil {
		return Result{}, err
	}
	lines := append([]string{r.lang.T("robot.delete_confirm", rb.Name, rb.ID), strings.Join(r.robotLines(rb), "\n")}, impact...)
	lines = append(lines, how...)
	return Result{Title: "title.confirm", Text: strings.Join(lines, "\n\n"), RobotID: rb.ID}, nil
}

// deleteRobot deletes rb. Resuming an earlier owner's delete, "nothing to
// delete" means that owner deleted it.
func (r *Runner) deleteRobot(ctx context.Context, c *Call, rb Robot, resumed bool) (Result, error) {
	if resumed {
		if err := r.awaitPrior(ctx, c); err != nil {
			return Result{}, err
		}
	}
	rb.Secret = ""
	rc, sendBy, err := write(ctx, c.Journal, Write{Action: "robot delete", Robot: rb}, []string{"robot-id:" + rb.ID}, func(ctx context.Context) (Receipt, error) {
		return r.robots.DeleteRobot(ctx, rb.ID)
	})
	switch {
	case sendBy.IsZero() && err != nil:
		return Result{}, err
	case errors.Is(err, ErrNotFound) && !resumed:
		return Result{}, &Error{Code: ENOTFOUND, Key: "robot.not_found", Args: []any{rb.ID}, Err: ErrNotFound}
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return Result{}, fmt.Errorf("delete robot %s: %w", rb.ID, err)
	}
	return Result{Text: r.lang.T("robot.deleted", rb.Name, rb.ID) + "\n\n" + r.lang.T("field.request_id") + ": " + rc.RequestID,
		RobotID: rb.ID, RequestID: rc.RequestID}, nil
}
