package commands

import (
	"context"
	"regexp"
	"strings"

	"github.com/armsbot/armsbot/commands/catalog"
)

// Who may run what: every command names the scope it needs (Spec.Scope),
// and some calls need more, depending on what they ask for (Spec.Needs).
// The runner checks both before a command runs, so a handler cannot forget
// a check; the permission table in docs/permissions.md is rendered from the same
// declarations (AccessTable).

// Need is a scope some calls of a command need besides the command's own.
type Need struct {
	// Doc is the catalog key that says which scope, and for which calls,
	// in /help and the permission table in docs/permissions.md.
	Doc string
	// Of returns the scope this call needs, "" when it needs none, and
	// the catalog key of the refusal ("" for the plain err.denied). Nil
	// when the handler checks it, because the scope depends on stored
	// state (a confirmation code's action).
	Of func(c *Call) (scope, refusal string)
}

// Needs of more than one command.
var (
	// needAudit: a contact's history is read from the audit trail.
	needAudit = Need{Doc: "need.audit", Of: func(*Call) (string, string) { return "audit", "" }}
	// needScopeHeld: nobody grants or revokes a scope they do not hold.
	needScopeHeld = Need{Doc: "need.scope_held", Of: func(c *Call) (string, string) { return c.Get("scope"), "perm.not_yours" }}
	// needConfirmed: a confirmation carries out what it confirms, which
	// needs that command's scope still (it may have been revoked since the
	// code was issued); confirmScopes says which.
	needConfirmed = Need{Doc: "need.confirmed"}
	// needVerify: sending a contact's verification link is an update of
	// it, unless the contact is the sender's own.
	needVerify = Need{Doc: "need.verify"}
	// needApproval: an approval is checked against its request (approval.go).
	needApproval = Need{Doc: "need.approval"}
	needReject   = Need{Doc: "need.reject"}
	// needImportGroups: rows that put contacts into a group change it
	// (its Of is set in init: it reads rows with the command set).
	needImportGroups = Need{Doc: "need.import_groups"}
)

func init() {
	needImportGroups.Of = func(c *Call) (string, string) {
		if importHasGroups(c.data) {
			return "group.write", ""
		}
		return "", ""
	}
}

// The needs of /contact add. contact.add.self adds the sender alone, with
// what the directory says of them: anyone else, or a phone, email or robot
// the sender types, is contact.add's; putting the contact into a group is
// a change of that group.
var (
	needAddOthers = Need{Doc: "need.add_others", Of: func(c *Call) (string, string) {
		if who := c.Get("who"); who == "" || who != c.Msg.SenderID {
			return "contact.add", ""
		}
		return "", ""
	}}
	needAddTypedChannels = Need{Doc: "need.add_channels", Of: func(c *Call) (string, string) {
		if c.Has("phone") || c.Has("email") || c.Has("webhook") {
			return "contact.add", "err.denied_self_channels"
		}
		return "", ""
	}}
	needAddIntoGroup = Need{Doc: "need.add_group", Of: func(c *Call) (string, string) {
		if c.Has("group") {
			return "group.write", ""
		}
		return "", ""
	}}
)

// confirmScopes are the scopes a confirmation needs, by the action it
// confirms.
var confirmScopes = map[string]struct{ scope, command string }{
	"delete":       {"contact.delete", "/contact delete"},
	"group delete": {"group.write", "/group delete"},
	"robot delete": {"robot.write", "/robot delete"},
	"import":       {"contact.add", "/contact import"},
}

// needForce: a change that leaves an enabled notification policy with
// nobody to notify is made only by a holder of contact.force who says so.
var needForce = Need{Doc: "need.force", Of: func(c *Call) (string, string) {
	if c.Bool("force") {
		return "contact.force", ""
	}
	return "", ""
}}

// authorize fails with EFORBIDDEN unless the sender holds the command's
// scope. It runs before the arguments are checked: who may not run a
// command learns nothing about how it was typed.
func (r *Runner) authorize(ctx context.Context, c *Call) error {
	return r.require(ctx, c, c.Spec.Scope, "", "/"+c.Spec.Name())
}

// authorizeNeeds checks what this call needs beyond its command's scope,
// once its arguments are known.
func (r *Runner) authorizeNeeds(ctx context.Context, c *Call) error {
	for _, n := range c.Spec.Needs {
		if n.Of == nil {
			continue
		}
		scope, refusal := n.Of(c)
		if err := r.require(ctx, c, scope, refusal, "/"+c.Spec.Name()); err != nil {
			return err
		}
	}
	return nil
}

// require fails with EFORBIDDEN unless the sender holds scope; refusal is
// the catalog key of the reply ("" for err.denied, which names what and
// the scope).
func (r *Runner) require(ctx context.Context, c *Call, scope, refusal, what string) error {
	if scope == "" {
		return nil
	}
	if c.Msg.SenderID == "" {
		// DingTalk did not say who this is: nothing can have been granted
		// to them, and no id the body claims instead is believed.
		return &Error{Code: EFORBIDDEN, Key: "err.anonymous", Args: []any{what}}
	}
	g, err := r.senderGrants(ctx, c)
	if err != nil {
		return err
	}
	if Covers(g, scope) {
		return nil
	}
	switch refusal {
	case "":
		return &Error{Code: EFORBIDDEN, Key: "err.denied", Args: []any{what, scope}}
	case "perm.not_yours":
		return &Error{Code: EFORBIDDEN, Key: refusal, Args: []any{scope}}
	}
	return &Error{Code: EFORBIDDEN, Key: refusal, Args: []any{what, scope}}
}

// staffIDRE is what the DingTalk directory's user ids look like: staff
// ids are set by the organisation (a job number, a login name) or
// generated (digits), up to 64 characters. Anything else, a link, markup,
// an encrypted sender id, is not somebody that can be granted a scope.
var staffIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidStaffID reports whether s looks like a DingTalk staff id.
func ValidStaffID(s string) bool { return staffIDRE.MatchString(s) }

// AccessTable renders, in markdown and in l's words, who may run what:
// the permission table of docs/permissions.md, from the same declarations the
// runner checks.
func AccessTable(specs []*Spec, l catalog.Lang) string {
	var b strings.Builder
	b.WriteString("| command | needs | and also |\n|---|---|---|\n")
	for _, s := range specs {
		scope := "none"
		if s.Scope != "" {
			scope = "`" + s.Scope + "`"
		}
		var also []string
		for _, n := range s.Needs {
			also = append(also, l.T(n.Doc))
		}
		b.WriteString("| `/" + s.Name() + "` | " + scope + " | " + strings.Join(also, "; ") + " |\n")
	}
	return b.String()
}
