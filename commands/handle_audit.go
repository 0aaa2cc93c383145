package commands

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/armsbot/armsbot/commands/catalog"
)

const (
	auditDefault = 10
	auditMax     = 50
)

// chinaTime is how audit times are shown: the team works in UTC+8.
var chinaTime = time.FixedZone("UTC+8", 8*3600)

func (r *Runner) auditList(ctx context.Context, c *Call) (Result, error) {
	n := auditDefault
	if c.Has("n") {
		n, _ = strconv.Atoi(c.Get("n"))
		n = min(n, auditMax)
	}
	entries, err := r.audit.Recent(ctx, n, c.Get("user"))
	if err != nil {
		return Result{}, err
	}
	l := r.lang
	if len(entries) == 0 {
		return Result{Text: l.T("audit.empty")}, nil
	}
	var items []string
	for _, e := range entries {
		items = append(items, r.auditLine(e))
	}
	return Result{Text: l.T("audit.header", len(entries)) + "\n\n" + strings.Join(items, "\n")}, nil
}

// auditLine renders one audit entry. Everything stored came from a sender
// or from outside: inert.
func (r *Runner) auditLine(e AuditEntry) string {
	line := "- " + e.Time.In(chinaTime).Format("01-02 15:04:05") + " " + catalog.Inert(e.SenderNick) + " (" + catalog.Inert(e.SenderID) + ") "
	cmd := strings.TrimSpace("/" + e.Command + " " + e.Args)
	if e.Command == "" {
		cmd = e.Args
	}
	line += "`" + catalog.Inert(cmd) + "` → " + catalog.Inert(e.Outcome)
	if e.ContactID != "" {
		line += " · ContactId " + catalog.Inert(e.ContactID)
	}
	if e.GroupID != "" {
		line += " · ContactGroupId " + catalog.Inert(e.GroupID)
	}
	if e.RobotID != "" {
		line += " · RobotId " + catalog.Inert(e.RobotID)
	}
	if len(e.Policies) > 0 {
		line += " · " + r.lang.T("audit.policies", strings.Join(e.Policies, ", "))
	}
	if e.Approval != "" {
		line += " · " + r.lang.T("audit.approval", e.Approval)
	}
	if e.RequestedBy != "" {
		line += " · " + r.lang.T("audit.requested_by", e.RequestedBy)
	}
	if e.RequestID != "" {
		line += " · RequestId " + catalog.Inert(e.RequestID)
	}
	return line
}

// auditArgs renders the arguments the sender gave, masked according to
// their kind, for the audit trail (which /audit shows in group chats).
func (c *Call) auditArgs() string {
	if len(c.words) > 0 {
		return MaskText(strings.Join(c.words, " "))
	}
	var parts []string
	for _, a := range c.Spec.Args {
		v, ok := c.raw[a.Name]
		if !ok {
			continue
		}
		switch a.Kind {
		case KindPhone:
			if p, ok := NormalizePhone(v); ok {
				v = MaskPhone(p)
			} else {
				v = MaskText(v)
			}
		case KindEmail:
			v = MaskEmail(v)
		case KindSecret:
			v = "SEC…" // a credential: never kept, not even in part
		case KindWho:
			// Whom it was for, by staff id: the audit names both people.
			if who := c.vals[a.Name]; who != "" {
				v = who
			} else {
				v = MaskText(v)
			}
		case KindID, KindIDs, KindGroupID, KindInt, KindBool, KindCode, KindScope, KindFallback, KindTimes:
			// A valid one is no personal data: a ContactId stays readable.
			if ok, err := checkValue(&a, a.Name, strings.TrimSpace(v)); err == nil {
				v = ok
			} else {
				v = MaskText(v)
			}
		default:
			v = MaskText(v)
		}
		if a.Positional {
			parts = append(parts, string(short(v)))
		} else {
			parts = append(parts, a.Name+"="+string(short(v)))
		}
	}
	return strings.Join(parts, " ")
}

// Describe names the command in text and its masked arguments without
// running anything, for audit entries of messages that were not run
// (duplicates, rate-limited).
func (r *Runner) Describe(text string) (command, args string) {
	c, err := Parse(r.specs, text)
	if err != nil {
		return "", MaskText(text)
	}
	return c.Spec.Name(), c.auditArgs()
}
