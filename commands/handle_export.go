package commands

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/armsbot/armsbot/commands/export"
)

// exportMax bounds how many contacts an export reads, and exportBytes
// what one reply carries (DingTalk's robot messages take about 15,000
// bytes; a markdown reply's other lines fit in the rest).
const (
	exportMax   = 2000
	exportBytes = 12000
)

// contactExport renders every contact (or a group's) as CSV that /contact
// add's keys read, or as Terraform that adopts them. It carries personal
// data unmasked, so it answers in a one-to-one chat only.
func (r *Runner) contactExport(ctx context.Context, c *Call) (Result, error) {
	if !c.Msg.Private {
		return Result{}, &Error{Code: EINVALID, Key: "export.private_only"}
	}
	family := r.arms.Traits().Family
	format := cmp.Or(c.Get("format"), "csv")
	if format == "terraform" && family != "legacy" {
		return Result{}, &Error{Code: EINVALID, Key: "export.no_terraform", Args: []any{family}}
	}
	contacts, err := r.allContacts(ctx)
	if err != nil {
		return Result{}, err
	}
	gl, err := r.groups.SearchGroups(ctx, GroupQuery{MemberIDs: true})
	if err != nil {
		return Result{}, fmt.Errorf("export: list groups: %w", err)
	}
	groups := gl.Groups
	if gid := c.Get("group"); gid != "" {
		i := slices.IndexFunc(groups, func(g Group) bool { return g.ID == gid })
		if i < 0 {
			return Result{}, &Error{Code: ENOTFOUND, Key: "group.not_found", Args: []any{gid}}
		}
		groups = groups[i : i+1]
		contacts = slices.DeleteFunc(contacts, func(ct Contact) bool { return !slices.Contains(groups[0].ContactIDs, ct.ID) })
	}
	rows := make([]export.Contact, 0, len(contacts))
	for _, ct := range contacts {
		row := export.Contact{ID: ct.ID, Name: ct.Name, Phone: ct.Phone, Email: ct.Email, Webhook: ct.Webhook,
			Fallback: ct.Fallback, SystemNoc: ct.SystemNoc}
		for _, g := range groups {
			if slices.Contains(g.ContactIDs, ct.ID) {
				row.Groups = append(row.Groups, g.ID)
			}
		}
		rows = append(rows, row)
	}
	var (
		out  []byte
		lang = "csv"
	)
	if format == "terraform" {
		gs := make([]export.Group, 0, len(groups))
		for _, g := range groups {
			gs = append(gs, export.Group{ID: g.ID, Name: g.Name, Members: g.ContactIDs})
		}
		lang = "hcl"
		if out, err = export.Terraform(family, rows, gs); errors.Is(err, export.ErrNoResource) {
			return Result{}, &Error{Code: EINVALID, Key: "export.no_terraform", Args: []any{family}, Err: err}
		} else if err != nil {
			return Result{}, err
		}
	} else {
		out = export.CSV(family, rows)
	}
	header := r.lang.T("export.header", len(rows), len(groups))
	parts := splitExport(string(out), format, exportBytes)
	fenced := func(i int) string {
		// The user's own data in a one-to-one chat, fenced so that
		// nothing in it is markup.
		fence := export.Fence(parts[i])
		text := fence + lang + "\n" + parts[i] + fence
		if len(parts) > 1 {
			text = r.lang.T("export.part", i+1, len(parts)) + "\n\n" + text
		}
		return text
	}
	if len(parts) > 1 && c.Msg.Progress != nil {
		// More than a message carries: the first parts go ahead as notes,
		// the last is the reply.
		for i := range parts[:len(parts)-1] {
			c.Msg.Progress(Reply{Title: r.lang.T("title.contacts"), Text: fenced(i), Command: "contact export", Outcome: "progress"})
		}
		return Result{Text: header + "\n\n" + fenced(len(parts)-1)}, nil
	}
	texts := []string{header}
	for i := range parts {
		texts = append(texts, fenced(i))
	}
	return Result{Text: strings.Join(texts, "\n\n")}, nil
}

// splitExport cuts an export into parts of at most max bytes, each usable
// alone: CSV at rows, with the header again at the top of each part;
// Terraform at the blank lines between blocks.
func splitExport(out, format string, max int) []string {
	if len(out) <= max {
		return []string{out}
	}
	var units []string
	head := ""
	if format == "terraform" {
		units = strings.SplitAfter(out, "\n\n")
	} else {
		lines := strings.SplitAfter(out, "\n")
		head, units = lines[0], lines[1:]
	}
	var parts []string
	cur := head
	for _, u := range units {
		if len(cur)+len(u) > max && cur != head {
			parts = append(parts, cur)
			cur = head
		}
		cur += u
	}
	if cur != head || len(parts) == 0 {
		parts = append(parts, cur)
	}
	return parts
}

// allContacts reads every contact, a page at a time, up to exportMax.
func (r *Runner) allContacts(ctx context.Context) ([]Contact, error) {
	var all []Contact
	for page := 1; ; page++ {
		res, err := r.arms.SearchContacts(ctx, ContactQuery{Page: page, PageSize: 100})
		if err != nil {
			return nil, fmt.Errorf("export: list contacts: %w", err)
		}
		all = append(all, res.Contacts...)
		if len(res.Contacts) == 0 || len(all) >= res.Total {
			return all, nil
		}
		if len(all) >= exportMax {
			return nil, &Error{Code: EINVALID, Key: "export.too_many", Args: []any{res.Total, exportMax}}
		}
	}
}
