package armstest

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Group is a stored contact group, in the shape SearchAlertContactGroup
// returns (Contacts only with IsDetail=true).
type Group struct {
	ContactGroupID   int64     `json:"ContactGroupId"`
	ContactGroupName string    `json:"ContactGroupName"`
	CreateTime       int64     `json:"CreateTime"`
	UpdateTime       int64     `json:"UpdateTime"`
	UserID           string    `json:"UserId"`
	Contacts         []Contact `json:"Contacts,omitempty"`
	members          []int64
}

// Groups returns a copy of the stored groups with their members, by id.
func (s *Server) Groups() []Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Group, 0, len(s.groups))
	for _, g := range s.groups {
		out = append(out, s.detailed(g))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ContactGroupID < out[j].ContactGroupID })
	return out
}

// AddGroup stores a group directly, as if created in the console.
func (s *Server) AddGroup(name string, members ...int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextGroup++
	now := s.now().UnixMilli()
	s.groups[s.nextGroup] = &Group{ContactGroupID: s.nextGroup, ContactGroupName: name, CreateTime: now, UpdateTime: now, members: members}
	return s.nextGroup
}

func (s *Server) detailed(g *Group) Group {
	cp := *g
	cp.members = nil
	cp.Contacts = []Contact{}
	for _, id := range g.members {
		if c, ok := s.contacts[id]; ok {
			cc := *c
			cc.emailKey, cc.lastLink = "", time.Time{}
			cp.Contacts = append(cp.Contacts, cc)
		}
	}
	return cp
}

// members reads ContactIds, space-separated as documented (commas and JSON
// arrays are taken too); every id must be an existing contact.
func (s *Server) members(raw string) ([]int64, *apiError) {
	var out []int64
	seen := map[int64]bool{}
	for _, f := range strings.FieldsFunc(strings.Trim(raw, "[]"), func(r rune) bool { return r == ' ' || r == ',' }) {
		id, err := strconv.ParseInt(strings.Trim(f, `"`), 10, 64)
		if err != nil {
			return nil, &apiError{400, "ParameterIllegal", "ContactIds must be contact ids separated by spaces."}
		}
		if _, ok := s.contacts[id]; !ok {
			return nil, &apiError{400, "ParameterIllegal", "The contact " + f + " does not exist."}
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

func (s *Server) createGroup(p url.Values, rid string) (any, *apiError) {
	name := p.Get("ContactGroupName")
	if name == "" {
		return nil, &apiError{400, "ParameterMissing", "ContactGroupName is mandatory for this action."}
	}
	members, e := s.members(p.Get("ContactIds"))
	if e != nil {
		return nil, e
	}
	s.nextGroup++
	now := s.now().UnixMilli()
	s.groups[s.nextGroup] = &Group{ContactGroupID: s.nextGroup, ContactGroupName: name, CreateTime: now, UpdateTime: now, members: members}
	return map[string]any{"ContactGroupId": strconv.FormatInt(s.nextGroup, 10), "RequestId": rid}, nil
}

func (s *Server) searchGroups(p url.Values, rid string) (any, *apiError) {
	ids := parseIDs(p.Get("ContactGroupIds"))
	name, contactName := p.Get("ContactGroupName"), p.Get("ContactName")
	var contact int64
	if raw := p.Get("ContactId"); raw != "" {
		contact, _ = strconv.ParseInt(raw, 10, 64)
	}
	detail := p.Get("IsDetail") == "true"
	out := []Group{}
	for _, g := range s.groups {
		d := s.detailed(g)
		has := func(ok func(Contact) bool) bool {
			for _, c := range d.Contacts {
				if ok(c) {
					return true
				}
			}
			return false
		}
		switch {
		case len(ids) > 0 && !ids[g.ContactGroupID]:
		case name != "" && !strings.Contains(g.ContactGroupName, name):
		case contact != 0 && !has(func(c Contact) bool { return c.ContactID == contact }):
		case contactName != "" && !has(func(c Contact) bool { return strings.Contains(c.ContactName, contactName) }):
		default:
			if !detail {
				d.Contacts = nil
			}
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ContactGroupID > out[j].ContactGroupID })
	return map[string]any{"RequestId": rid, "ContactGroups": out}, nil
}

func (s *Server) updateGroup(p url.Values, rid string) (any, *apiError) {
	id, err := strconv.ParseInt(p.Get("ContactGroupId"), 10, 64)
	if err != nil {
		return nil, &apiError{400, "ParameterMissing", "ContactGroupId is mandatory for this action."}
	}
	g, ok := s.groups[id]
	if !ok {
		return nil, &apiError{400, "ParameterIllegal", "The contact group does not exist."}
	}
	if p.Get("ContactGroupName") == "" {
		return nil, &apiError{400, "ParameterMissing", "ContactGroupName is mandatory for this action."}
	}
	members, e := s.members(p.Get("ContactIds"))
	if e != nil {
		return nil, e
	}
	// A full replacement: the name and every member.
	g.ContactGroupName, g.members, g.UpdateTime = p.Get("ContactGroupName"), members, s.now().UnixMilli()
	return map[string]any{"IsSuccess": true, "RequestId": rid}, nil
}

func (s *Server) deleteGroup(p url.Values, rid string) (any, *apiError) {
	id, err := strconv.ParseInt(p.Get("ContactGroupId"), 10, 64)
	if err != nil {
		return nil, &apiError{400, "ParameterMissing", "ContactGroupId is mandatory for this action."}
	}
	if _, ok := s.groups[id]; !ok {
		if s.missing400 {
			return nil, &apiError{400, "InvalidParameter", "The contact group " + strconv.FormatInt(id, 10) + " does not exist."}
		}
		return map[string]any{"IsSuccess": false, "RequestId": rid}, nil
	}
	delete(s.groups, id)
	return map[string]any{"IsSuccess": true, "RequestId": rid}, nil
}
