package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/armsbot/armsbot/commands/catalog"
)

// Contact groups: an alert reaches a contact only through a group that an
// alert rule or notification policy uses. ARMS replaces a group's whole
// member list on every update, so each change reads the group first and
// holds the group's lock (Journal.Serialize) from that read to its write:
// two messages changing one group, on any replica, never lose each
// other's members.

// groupKey is the lock of a group's membership and name.
func groupKey(id string) string { return "group:" + id }

// findGroup returns the group with id and its members, or ENOTFOUND.
func (r *Runner) findGroup(ctx context.Context, id string) (Group, error) {
	res, err := r.groups.SearchGroups(ctx, GroupQuery{IDs: []string{id}, Detail: true})
	if err != nil {
		return Group{}, fmt.Errorf("find group %s: %w", id, err)
	}
	for _, g := range res.Groups {
		if g.ID == id {
			return g, nil
		}
	}
	return Group{}, &Error{Code: ENOTFOUND, Key: "group.not_found", Args: []any{id}, Err: ErrNotFound}
}

// existing checks that every id is a contact, and names the ones that are
// not.
func (r *Runner) existing(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	page, err := r.arms.SearchContacts(ctx, ContactQuery{IDs: ids, PageSize: max(len(ids), 10)})
	if err != nil {
		return fmt.Errorf("look the contacts up: %w", err)
	}
	var missing []string
	for _, id := range ids {
		if !slices.ContainsFunc(page.Contacts, func(c Contact) bool { return c.ID == id }) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return &Error{Code: ENOTFOUND, Key: "group.no_such_contacts", Args: []any{strings.Join(missing, ", ")}, Err: ErrNotFound}
	}
	return nil
}

func (r *Runner) groupList(ctx context.Context, c *Call) (Result, error) {
	res, err := r.groups.SearchGroups(ctx, GroupQuery{Name: c.Get("name"), Detail: true})
	if err != nil {
		return Result{}, fmt.Errorf("list groups: %w", err)
	}
	if len(res.Groups) == 0 {
		return Result{Text: r.lang.T("group.list_empty"), RequestID: res.RequestID}, nil
	}
	items := make([]string, 0, len(res.Groups))
	for _, g := range res.Groups {
		items = append(items, "- **"+catalog.Inert(g.ID)+"** "+catalog.Inert(g.Name)+" · "+r.lang.T("group.members_count", len(g.ContactIDs)))
	}
	text := r.lang.T("group.list_header", len(res.Groups)) + "\n\n" + strings.Join(items, "\n") + "\n\n" + r.lang.T("group.show_hint")
	return Result{Text: text, RequestID: res.RequestID}, nil
}

func (r *Runner) groupShow(ctx context.Context, c *Call) (Result, error) {
	g, err := r.findGroup(ctx, c.Get("group"))
	if err != nil {
		return Result{}, err
	}
	return Result{Text: r.lang.T("group.header", g.Name, g.ID) + "\n\n" + r.memberLines(g, !c.Msg.Private), GroupID: g.ID}, nil
}

// memberLines lists a group's members with their channels, masked unless
// the chat is private.
func (r *Runner) memberLines(g Group, masked bool) string {
	if len(g.Members) == 0 {
		return r.lang.T("group.no_members")
	}
	lines := []string{r.lang.T("group.members_count", len(g.Members)) + ":"}
	for _, m := range g.Members {
		lines = append(lines, "- **"+catalog.Inert(m.ID)+"** "+catalog.Inert(m.Name)+r.channelSummary(m, masked))
	}
	return strings.Join(lines, "\n")
}

func (r *Runner) groupCreate(ctx context.Context, c *Call) (Result, error) {
	g := Group{Name: c.Get("name"), ContactIDs: strings.Fields(c.Get("contacts"))}
	// Two messages creating the same name make one group.
	if err := c.Journal.Serialize(ctx, "group-name:"+g.Name); err != nil {
		return Result{}, err
	}
	// An earlier owner of this message may have created it already, or
	// its create may still land: then it is this message's result.
	if w, _, ok := c.Journal.Prior(); ok && w.Action == "group create" {
		found, ok, err := r.groupNamed(ctx, g.Name)
		if err == nil && !ok {
			if err = r.awaitPrior(ctx, c); err == nil {
				found, ok, err = r.groupNamed(ctx, g.Name)
			}
		}
		if err != nil {
			return Result{}, err
		}
		if ok {
			return Result{Text: r.lang.T("group.created", found.Name, found.ID) + "\n\n" + r.lang.T("add.recovered"),
				GroupID: found.ID, Contacts: found.ContactIDs}, nil
		}
	}
	if found, ok, err := r.groupNamed(ctx, g.Name); err != nil {
		return Result{}, err
	} else if ok {
		return Result{}, &Error{Code: ECONFLICT, Key: "group.exists", Args: []any{found.Name, found.ID, found.ID}}
	}
	if err := r.existing(ctx, g.ContactIDs); err != nil {
		return Result{}, err
	}
	w := Write{Action: "group create", Group: g}
	if c.Bool("dry-run") {
		return r.dryRun(c, []Write{w}, Result{Contacts: g.ContactIDs})
	}
	rc, _, err := write(ctx, c.Journal, w, nil, func(ctx context.Context) (Receipt, error) {
		return r.groups.CreateGroup(ctx, g.Name, g.ContactIDs)
	})
	if err != nil {
		return Result{}, fmt.Errorf("create group: %w", err)
	}
	return Result{Text: r.lang.T("group.created", g.Name, rc.GroupID) + "\n\n" + r.lang.T("group.members_count", len(g.ContactIDs)) +
		"\n\n" + r.lang.T("field.request_id") + ": " + rc.RequestID, GroupID: rc.GroupID, Contacts: g.ContactIDs, RequestID: rc.RequestID}, nil
}

// groupNamed finds the group with exactly this name (the search matches
// partially).
func (r *Runner) groupNamed(ctx context.Context, name string) (Group, bool, error) {
	res, err := r.groups.SearchGroups(ctx, GroupQuery{Name: name})
	if err != nil {
		return Group{}, false, fmt.Errorf("look for group %q: %w", name, err)
	}
	for _, g := range res.Groups {
		if g.Name == name {
			return g, true, nil
		}
	}
	return Group{}, false, nil
}

func (r *Runner) groupAdd(ctx context.Context, c *Call) (Result, error) {
	ids := strings.Fields(c.Get("contacts"))
	if err := r.existing(ctx, ids); err != nil {
		return Result{}, err
	}
	return r.changeMembers(ctx, c, c.Get("group"), ids, nil)
}

func (r *Runner) groupRemove(ctx context.Context, c *Call) (Result, error) {
	return r.changeMembers(ctx, c, c.Get("group"), nil, strings.Fields(c.Get("contacts")))
}

// changeMembers adds and removes members of the group id: under the
// group's lock, from a fresh read, with the complete list written back.
// Adding a member twice or removing an absent one changes nothing, so a
// message finished again after a take-over gives the same result; what
// the earlier owner of the message already did is reported as this
// message's doing (its intent names the members it changed), never as
// "already in".
func (r *Runner) changeMembers(ctx context.Context, c *Call, id string, add, remove []string) (Result, error) {
	if err := c.Journal.Serialize(ctx, groupKey(id)); err != nil {
		return Result{}, err
	}
	if err := r.awaitPrior(ctx, c); err != nil {
		return Result{}, err
	}
	g, err := r.findGroup(ctx, id)
	if err != nil {
		return Result{}, err
	}
	var mine []string // members an earlier owner of this message changed
	if w, _, ok := c.Journal.Prior(); ok && w.Action == "group update" && w.Group.ID == id {
		mine = w.Members
	}
	members := slices.Clone(g.ContactIDs)
	var changed, done, unchanged []string
	for _, a := range add {
		switch {
		case !slices.Contains(members, a):
			members = append(members, a)
			changed = append(changed, a)
		case slices.Contains(mine, a):
			done = append(done, a)
		default:
			unchanged = append(unchanged, a)
		}
	}
	for _, x := range remove {
		switch {
		case slices.Contains(members, x):
			members = slices.DeleteFunc(members, func(m string) bool { return m == x })
			changed = append(changed, x)
		case slices.Contains(mine, x):
			done = append(done, x)
		default:
			unchanged = append(unchanged, x)
		}
	}
	verb, already := "group.added", "group.already_in"
	if len(remove) > 0 {
		verb, already = "group.removed", "group.not_in"
	}
	var rc Receipt
	var gd guarded
	if len(changed) > 0 && len(remove) > 0 && len(mine) == 0 {
		// A group that is a policy's last receiver must keep a member.
		what := r.lang.T("what.members", strings.Join(changed, ", "), g.Name, g.ID)
		if gd, err = r.guard(ctx, c, change{after: map[string][]string{g.ID: members}}, what, c.Bool("force")); err != nil {
			return Result{}, err
		}
	}
	if len(changed) > 0 {
		w := Write{Action: "group update", Group: Group{ID: g.ID, Name: g.Name, ContactIDs: members}, Members: append(slices.Clone(done), changed...)}
		if c.Bool("dry-run") {
			res, err := r.dryRun(c, []Write{w}, Result{GroupID: g.ID, Contacts: changed, Policies: gd.names()})
			res.Text = strings.Join(append(gd.lines(r.lang), res.Text), "\n\n")
			return res, err
		}
		if rc, err = r.updateGroup(ctx, c, w); err != nil {
			return Result{}, err
		}
	}
	ours := append(done, changed...)
	if len(ours) == 0 {
		return Result{Text: r.lang.T(already, g.Name, g.ID, strings.Join(unchanged, ", ")), GroupID: g.ID}, nil
	}
	lines := []string{r.lang.T(verb, strings.Join(ours, ", "), g.Name, g.ID)}
	if len(unchanged) > 0 {
		lines = append(lines, r.lang.T(already, g.Name, g.ID, strings.Join(unchanged, ", ")))
	}
	lines = append(lines, r.lang.T("group.members_count", len(members)))
	lines = append(lines, gd.lines(r.lang)...)
	if rc.RequestID != "" {
		lines = append(lines, r.lang.T("field.request_id")+": "+rc.RequestID)
	}
	return Result{Text: strings.Join(lines, "\n\n"), GroupID: g.ID, Contacts: ours, RequestID: rc.RequestID,
		Policies: gd.affected(ReceiverGroup, g.ID, nil)}, nil
}

// updateGroup records and sends a full replacement of a group.
func (r *Runner) updateGroup(ctx context.Context, c *Call, w Write) (Receipt, error) {
	rc, _, err := write(ctx, c.Journal, w, nil, func(ctx context.Context) (Receipt, error) {
		return r.groups.UpdateGroup(ctx, w.Group)
	})
	if err != nil {
		return Receipt{}, fmt.Errorf("update group %s: %w", w.Group.ID, err)
	}
	return rc, nil
}

func (r *Runner) groupRename(ctx context.Context, c *Call) (Result, error) {
	id, name := c.Get("group"), c.Get("name")
	if err := c.Journal.Serialize(ctx, groupKey(id), "group-name:"+name); err != nil {
		return Result{}, err
	}
	if err := r.awaitPrior(ctx, c); err != nil {
		return Result{}, err
	}
	g, err := r.findGroup(ctx, id)
	if err != nil {
		return Result{}, err
	}
	from := g.Name
	if w, _, ok := c.Journal.Prior(); ok && w.Action == "group update" && w.Group.ID == id && w.From != "" {
		from = w.From // the earlier owner of this message may have renamed it already
	}
	if other, ok, err := r.groupNamed(ctx, name); err != nil {
		return Result{}, err
	} else if ok && other.ID != id {
		return Result{}, &Error{Code: ECONFLICT, Key: "group.exists", Args: []any{other.Name, other.ID, other.ID}}
	}
	w := Write{Action: "group update", Group: Group{ID: g.ID, Name: name, ContactIDs: g.ContactIDs}, From: from}
	if c.Bool("dry-run") {
		return r.dryRun(c, []Write{w}, Result{GroupID: g.ID})
	}
	rc, err := r.updateGroup(ctx, c, w)
	if err != nil {
		return Result{}, err
	}
	return Result{Text: r.lang.T("group.renamed", from, name, g.ID) + "\n\n" + r.lang.T("field.request_id") + ": " + rc.RequestID,
		GroupID: g.ID, RequestID: rc.RequestID}, nil
}

// groupDelete never deletes at once: like a contact, it shows what would
// go and asks the same sender to confirm with a code.
func (r *Runner) groupDelete(ctx context.Context, c *Call) (Result, error) {
	g, err := r.findGroup(ctx, c.Get("group"))
	if err != nil {
		return Result{}, err
	}
	force := c.Bool("force")
	gd, err := r.guard(ctx, c, change{group: g.ID}, r.lang.T("what.group", g.Name, g.ID), force)
	if err != nil {
		return Result{}, err
	}
	impact := r.impactLines(gd, ReceiverGroup, g.ID, nil, nil)
	if c.Bool("dry-run") {
		res, err := r.dryRun(c, []Write{{Action: "group delete", Group: g}}, Result{GroupID: g.ID, Policies: gd.names()})
		res.Text = strings.Join(append(impact, res.Text), "\n\n")
		return res, err
	}
	how, err := r.propose(ctx, c, Pending{Action: "group delete", GroupID: g.ID, Name: g.Name, Force: force})
	if err != nil {
		return Result{}, err
	}
	lines := []string{
		r.lang.T("group.delete_confirm", g.Name, g.ID),
		r.memberLines(g, !c.Msg.Private),
		r.lang.T("group.delete_note"),
	}
	lines = append(lines, impact...)
	lines = append(lines, how...)
	return Result{Title: "title.confirm", Text: strings.Join(lines, "\n\n"), GroupID: g.ID}, nil
}

// deleteGroup deletes the group, under its lock. Resuming an earlier
// owner's delete, "nothing to delete" means that owner deleted it.
func (r *Runner) deleteGroup(ctx context.Context, c *Call, g Group, resumed bool) (Result, error) {
	if resumed {
		if err := r.awaitPrior(ctx, c); err != nil {
			return Result{}, err
		}
	}
	rc, sendBy, err := write(ctx, c.Journal, Write{Action: "group delete", Group: g}, []string{groupKey(g.ID)}, func(ctx context.Context) (Receipt, error) {
		return r.groups.DeleteGroup(ctx, g.ID)
	})
	switch {
	case sendBy.IsZero() && err != nil: // nothing was sent
		return Result{}, err
	case errors.Is(err, ErrNotFound) && !resumed:
		return Result{}, &Error{Code: ENOTFOUND, Key: "group.not_found", Args: []any{g.ID}, Err: ErrNotFound}
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return Result{}, fmt.Errorf("delete group %s: %w", g.ID, err)
	}
	return Result{Text: r.lang.T("group.deleted", g.Name, g.ID) + "\n\n" + r.lang.T("field.request_id") + ": " + rc.RequestID,
		GroupID: g.ID, RequestID: rc.RequestID}, nil
}

// groupsOf names the groups a contact belongs to, for the delete preview.
func (r *Runner) groupsOf(ctx context.Context, contactID string) ([]Group, error) {
	res, err := r.groups.SearchGroups(ctx, GroupQuery{ContactID: contactID})
	if err != nil {
		return nil, fmt.Errorf("groups of contact %s: %w", contactID, err)
	}
	return res.Groups, nil
}

func groupNames(gs []Group) string {
	parts := make([]string, 0, len(gs))
	for _, g := range gs {
		parts = append(parts, catalog.Inert(g.Name)+" ("+catalog.Inert(g.ID)+")")
	}
	return strings.Join(parts, ", ")
}

// propose keeps p under a fresh confirmation code for the sender, and
// returns what the reply says of it. Held for approval (c.held), p
// becomes the request a second person approves.
func (r *Runner) propose(ctx context.Context, c *Call, p Pending) ([]string, error) {
	if a := c.held; a != nil {
		a.Pending = &p
		if p.Force {
			a.Rule += " (force=true)"
		}
		code, err := r.request(ctx, *a)
		if err != nil {
			return nil, err
		}
		a.Code = code
		c.decision = &Decision{Kind: "approval", Code: code, Requester: a.Requester, Expires: a.Expires}
		return r.approvalLines(ctx, *a), nil
	}
	for range 5 {
		code := newCode()
		ok, err := r.confirms.Propose(ctx, c.Msg.SenderID, code, p, ConfirmTTL)
		if err != nil {
			return nil, err
		}
		if ok {
			c.decision = &Decision{Kind: "confirm", Code: code, Requester: c.Msg.SenderID, Expires: r.clock().Add(ConfirmTTL)}
			how := "delete.how"
			if p.Action == "import" {
				how = "import.how"
			}
			return []string{r.lang.T(how, int(ConfirmTTL.Minutes()), code, code)}, nil
		}
	}
	return nil, errors.New("no free confirmation code after 5 tries")
}
