package commands

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/armsbot/armsbot/commands/catalog"
)

func (r *Runner) permGrant(ctx context.Context, c *Call) (Result, error) {
	// That the sender holds the scope too, the runner checked (access.go).
	user, scope := c.Get("user"), c.Get("scope")
	if err := r.perms.Grant(ctx, user, scope); err != nil {
		return Result{}, fmt.Errorf("grant %s to %s: %w", scope, user, err)
	}
	r.log.Info("scope granted", "by", c.Msg.SenderID, "user", user, "scope", scope)
	return Result{Text: r.lang.T("perm.granted", scope, user)}, nil
}

func (r *Runner) permRevoke(ctx context.Context, c *Call) (Result, error) {
	user, scope := c.Get("user"), c.Get("scope")
	if r.isAdmin(user) {
		return Result{}, &Error{Code: EFORBIDDEN, Key: "perm.config_admin", Args: []any{user}}
	}
	// A revoke that an earlier owner of this message may have made already
	// is not "not held" when it finds nothing to revoke.
	w := Write{Action: "revoke", User: user, Scope: scope}
	prior, _, resumed := c.Journal.Prior()
	resumed = resumed && prior.Action == w.Action && prior.User == w.User && prior.Scope == w.Scope
	if !resumed {
		if _, err := c.Journal.Intend(ctx, w); err != nil {
			return Result{}, err
		}
	}
	held, err := r.perms.Revoke(ctx, user, scope)
	if err != nil {
		return Result{}, fmt.Errorf("revoke %s from %s: %w", scope, user, err)
	}
	if !held && !resumed {
		return Result{}, &Error{Code: EINVALID, Key: "perm.not_held", Args: []any{user, scope}}
	}
	r.log.Info("scope revoked", "by", c.Msg.SenderID, "user", user, "scope", scope)
	return Result{Text: r.lang.T("perm.revoked", scope, user)}, nil
}

func (r *Runner) permList(ctx context.Context, c *Call) (Result, error) {
	l := r.lang
	if user := c.Get("user"); user != "" {
		g, err := r.grants(ctx, user)
		if err != nil {
			return Result{}, err
		}
		return Result{Text: l.T("perm.of", user, r.scopeList(user, g))}, nil
	}
	users, err := r.perms.Holders(ctx)
	if err != nil {
		return Result{}, err
	}
	for _, a := range r.admins {
		if !slices.Contains(users, a) {
			users = append(users, a)
		}
	}
	sort.Strings(users)
	if len(users) == 0 {
		return Result{Text: l.T("perm.nobody")}, nil
	}
	var items []string
	for _, u := range users {
		g, err := r.grants(ctx, u)
		if err != nil {
			return Result{}, err
		}
		// Ids are checked where they enter, but grants older than that
		// check, and BOT_ADMINS, are shown inert all the same.
		items = append(items, "- "+catalog.Inert(u)+": "+r.scopeList(u, g))
	}
	return Result{Text: l.T("perm.header") + "\n\n" + strings.Join(items, "\n")}, nil
}

func (r *Runner) scopeList(user string, g []string) string {
	if r.isAdmin(user) {
		return "admin (" + r.lang.T("perm.from_config") + ")"
	}
	if len(g) == 0 {
		return r.lang.T("perm.none")
	}
	s := slices.Clone(g)
	sort.Strings(s)
	return catalog.Inert(strings.Join(s, ", "))
}

func (r *Runner) whoami(ctx context.Context, c *Call) (Result, error) {
	if c.Msg.SenderID == "" {
		return Result{Text: r.lang.T("whoami.anonymous", c.Msg.SenderNick) + "\n\n" + r.lang.T("whoami.conversation", c.Msg.ConversationID)}, nil
	}
	g, err := r.senderGrants(ctx, c)
	if err != nil {
		return Result{}, err
	}
	var can []string
	for _, s := range Scopes {
		if s != "admin" && s != "contact" && Covers(g, s) {
			can = append(can, s)
		}
	}
	eff := r.lang.T("perm.none")
	if len(can) > 0 {
		eff = strings.Join(can, ", ")
	}
	lines := []string{
		r.lang.T("whoami.id", c.Msg.SenderID, c.Msg.SenderNick),
		r.lang.T("whoami.granted", r.scopeList(c.Msg.SenderID, g)),
		r.lang.T("whoami.effective", eff),
		r.lang.T("whoami.conversation", c.Msg.ConversationID),
		r.lang.T("whoami.family", r.arms.Traits().Family),
	}
	return Result{Text: strings.Join(lines, "\n\n")}, nil
}
