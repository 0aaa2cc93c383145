package commands

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/armsbot/armsbot/commands/catalog"
)

// What a change does to alerting: a contact, group or robot matters
// because a notification policy sends alerts to it. Where-used answers
// which policies reach an object; the guard refuses a change that would
// leave an enabled policy with nobody to notify, unless the sender forces
// it with contact.force.

// change is what a write takes away from alerting.
type change struct {
	contact, group, robot string // deleted, when set
	// after are groups' members once the change is made, for the groups
	// it changes (a member removed).
	after map[string][]string
}

// reach is a policy an object reaches, directly or through a group.
type reach struct {
	policy Policy
	via    *Group // nil: the policy names the object itself
}

// receives reports whether p notifies anyone, before the change or after
// it. members are the current members of the groups p names; a group
// that is not among them (deleted meanwhile) notifies nobody.
func receives(p Policy, ch change, members map[string][]string, after bool) bool {
	for _, rc := range p.Receivers {
		switch rc.Kind {
		case ReceiverContact:
			if !after || rc.ID != ch.contact {
				return true
			}
		case ReceiverGroup:
			if after && rc.ID == ch.group {
				continue
			}
			m := members[rc.ID]
			if after {
				if a, ok := ch.after[rc.ID]; ok {
					m = a
				}
				m = slices.DeleteFunc(slices.Clone(m), func(id string) bool { return id == ch.contact })
			}
			if len(m) > 0 {
				return true
			}
		case ReceiverRobot:
			if !after || rc.ID != ch.robot {
				return true
			}
		default:
			return true // the bot does not manage it, and cannot remove it
		}
	}
	return false
}

// silenced are the enabled policies that notify someone now and would
// notify nobody after ch.
func (r *Runner) silenced(ctx context.Context, policies []Policy, ch change) ([]Policy, error) {
	var ids []string
	for _, p := range policies {
		for _, rc := range p.Receivers {
			if p.Enabled && rc.Kind == ReceiverGroup && !slices.Contains(ids, rc.ID) {
				ids = append(ids, rc.ID)
			}
		}
	}
	members := map[string][]string{}
	if len(ids) > 0 && r.groups != nil {
		res, err := r.groups.SearchGroups(ctx, GroupQuery{IDs: ids, MemberIDs: true})
		if err != nil {
			return nil, fmt.Errorf("groups named by notification policies: %w", err)
		}
		for _, g := range res.Groups {
			members[g.ID] = g.ContactIDs
		}
	}
	var out []Policy
	for _, p := range policies {
		if p.Enabled && receives(p, ch, members, false) && !receives(p, ch, members, true) {
			out = append(out, p)
		}
	}
	return out, nil
}

// guarded is what the guard found: the policies a change leaves without a
// receiver (forced), or a line saying the policies could not be read
// (forced).
type guarded struct {
	policies []Policy // every policy, as read (nil when unread)
	silenced []Policy
	note     string
}

// guard refuses ch when it would leave an enabled notification policy
// with nobody to notify, or when the policies cannot be read to know,
// unless force: what is the thing deleted (for the refusal).
func (r *Runner) guard(ctx context.Context, c *Call, ch change, what string, force bool) (guarded, error) {
	if r.policies == nil {
		return guarded{}, nil
	}
	ps, err := r.policies.NotificationPolicies(ctx)
	var s []Policy
	if err == nil {
		s, err = r.silenced(ctx, ps, ch)
	}
	if err != nil {
		fail := r.errorReply(c, err)
		if !force {
			return guarded{}, &Error{Code: EUPSTREAM, Key: "policy.unreadable", Args: []any{what, catalog.Markdown(fail.Text)}, Err: err}
		}
		return guarded{note: r.lang.T("policy.unread_forced", catalog.Markdown(fail.Text))}, nil
	}
	if len(s) > 0 && !force {
		return guarded{}, &Error{Code: EINVALID, Key: "policy.last_receiver", Args: []any{what, catalog.Markdown(policyNames(s))}}
	}
	return guarded{policies: ps, silenced: s}, nil
}

// lines says what the guard found, for a preview or a reply.
func (g guarded) lines(l catalog.Lang) []string {
	var out []string
	if g.note != "" {
		out = append(out, g.note)
	}
	if len(g.silenced) > 0 {
		out = append(out, l.T("policy.forced", catalog.Markdown(policyNames(g.silenced))))
	}
	return out
}

// names are the silenced policies as the audit trail keeps them.
func (g guarded) names() []string {
	var out []string
	for _, p := range g.silenced {
		out = append(out, p.Name+" ("+p.ID+") [silenced]")
	}
	return out
}

// affected are the policies that named the object of kind and id,
// directly or through groups, as the audit trail keeps them: the ones the
// change left silent marked so.
func (g guarded) affected(kind ReceiverKind, id string, groups []Group) []string {
	silent := map[string]bool{}
	for _, p := range g.silenced {
		silent[p.ID] = true
	}
	out := g.names()
	seen := map[string]bool{}
	for _, x := range reaching(g.policies, kind, id, groups, nil) {
		if p := x.policy; !silent[p.ID] && !seen[p.ID] {
			seen[p.ID] = true
			out = append(out, p.Name+" ("+p.ID+")")
		}
	}
	return out
}

func policyNames(ps []Policy) string {
	parts := make([]string, 0, len(ps))
	for _, p := range ps {
		parts = append(parts, "**"+catalog.Inert(p.Name)+"** ("+catalog.Inert(p.ID)+")")
	}
	return strings.Join(parts, ", ")
}

// reaching lists the policies that name an object of kind with id
// directly, or one of groups it belongs to; extra are policies known to
// name it by another way (a robot's own list of its dispatch rules).
func reaching(policies []Policy, kind ReceiverKind, id string, groups []Group, extra []PolicyRef) []reach {
	var out []reach
	seen := map[string]bool{}
	for _, p := range policies {
		for _, rc := range p.Receivers {
			if rc.Kind == kind && rc.ID == id && !seen[p.ID] {
				out = append(out, reach{policy: p})
				seen[p.ID] = true
			}
		}
	}
	for _, g := range groups {
		for _, p := range policies {
			for _, rc := range p.Receivers {
				if rc.Kind == ReceiverGroup && rc.ID == g.ID {
					out = append(out, reach{policy: p, via: &g})
				}
			}
		}
	}
	for _, ref := range extra {
		if !seen[ref.ID] {
			out = append(out, reach{policy: Policy{ID: ref.ID, Name: ref.Name, Enabled: true}})
			seen[ref.ID] = true
		}
	}
	return out
}

// reachLines renders where an object is used, one policy a line.
func (r *Runner) reachLines(rs []reach) string {
	if len(rs) == 0 {
		return r.lang.T("where.none")
	}
	lines := make([]string, 0, len(rs))
	for _, x := range rs {
		p := x.policy
		state := r.lang.T("where.enabled")
		if !p.Enabled {
			state = r.lang.T("where.disabled")
		}
		line := "- **" + catalog.Inert(p.Name) + "** (" + catalog.Inert(p.ID) + ") · " + state
		if len(p.Channels) > 0 {
			line += " · " + catalog.Inert(strings.Join(p.Channels, ", "))
		}
		if x.via != nil {
			line += " · " + r.lang.T("where.via", x.via.Name, x.via.ID)
		} else {
			line += " · " + r.lang.T("where.direct")
		}
		if others := otherReceivers(p); others != "" {
			line += " · " + r.lang.T("where.others", others)
		}
		if p.Escalates {
			line += " · " + r.lang.T("where.escalates")
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

// otherReceivers names, by kind and count, the receivers of p the bot
// does not manage (schedules, webhooks, the other family's objects).
func otherReceivers(p Policy) string {
	count := map[string]int{}
	var kinds []string
	for _, rc := range p.Receivers {
		if rc.Kind != ReceiverOther {
			continue
		}
		if count[rc.Type] == 0 {
			kinds = append(kinds, rc.Type)
		}
		count[rc.Type]++
	}
	parts := make([]string, 0, len(kinds))
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, count[k]))
	}
	return strings.Join(parts, ", ")
}

// policiesNow reads every policy, or says why not.
func (r *Runner) policiesNow(ctx context.Context) ([]Policy, error) {
	if r.policies == nil {
		return nil, nil
	}
	ps, err := r.policies.NotificationPolicies(ctx)
	if err != nil {
		return nil, fmt.Errorf("notification policies: %w", err)
	}
	return ps, nil
}

// contactWhere lists the notification policies that reach a contact,
// directly or through its groups.
func (r *Runner) contactWhere(ctx context.Context, c *Call) (Result, error) {
	ct, err := r.find(ctx, c.Get("id"))
	if err != nil {
		return Result{}, err
	}
	groups, err := r.groupsOf(ctx, ct.ID)
	if err != nil {
		return Result{}, err
	}
	ps, err := r.policiesNow(ctx)
	if err != nil {
		return Result{}, err
	}
	text := r.lang.T("where.contact", ct.Name, ct.ID) + "\n\n" + r.reachLines(reaching(ps, ReceiverContact, ct.ID, groups, nil))
	return Result{Text: text, ContactID: ct.ID}, nil
}

// groupWhere lists the notification policies that reach a group.
func (r *Runner) groupWhere(ctx context.Context, c *Call) (Result, error) {
	g, err := r.findGroup(ctx, c.Get("group"))
	if err != nil {
		return Result{}, err
	}
	ps, err := r.policiesNow(ctx)
	if err != nil {
		return Result{}, err
	}
	text := r.lang.T("where.group", g.Name, g.ID) + "\n\n" + r.reachLines(reaching(ps, ReceiverGroup, g.ID, nil, nil))
	return Result{Text: text, GroupID: g.ID}, nil
}

// impactLines says, for a delete preview, which of the policies g read
// reach the object.
func (r *Runner) impactLines(g guarded, kind ReceiverKind, id string, groups []Group, extra []PolicyRef) []string {
	if r.policies == nil || g.note != "" {
		return g.lines(r.lang)
	}
	rs := reaching(g.policies, kind, id, groups, extra)
	out := []string{r.lang.T("impact.none")}
	if len(rs) > 0 {
		out = []string{r.lang.T("impact.header", len(rs)) + "\n" + r.reachLines(rs)}
	}
	return append(out, g.lines(r.lang)...)
}
