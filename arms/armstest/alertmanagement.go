package armstest

import (
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The Alert Management family (告警管理, the one the console offers today):
// CreateOrUpdateContact, DescribeContacts, DeleteContact, SendTTSVerifyLink,
// CreateOrUpdateContactGroup, DescribeContactGroups and DeleteContactGroup,
// with their documented parameters and answers. The stand-in keeps one store
// for both families; how real ARMS relates the two (DescribeContacts answers
// a ContactId and an ArmsContactId) is not documented, and armsbot never
// uses both families in one deployment, so nothing may depend on it.

// DefaultVerifyInterval is how soon after a verification link the
// stand-in refuses another for the same contact with
// AlertPhoneVerifyTooFrequently. The interval is the stand-in's own: ARMS
// documents the error, not the interval.
const DefaultVerifyInterval = time.Minute

// WithVerifyInterval sets how soon another verification link may be asked
// for the same contact.
func WithVerifyInterval(d time.Duration) Option { return func(s *Server) { s.verifyEvery = d } }

// SetVerifyInterval changes how soon another verification link may be
// asked for the same contact.
func (s *Server) SetVerifyInterval(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.verifyEvery = d
}

// VerifyLink is a verification SMS the stand-in was asked to send.
type VerifyLink struct {
	ContactID int64
	Phone     string
	At        time.Time
}

// VerifyLinks returns the verification links sent so far.
func (s *Server) VerifyLinks() []VerifyLink {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.links)
}

// MarkVerified is the owner of the contact's phone opening the link: the
// number is verified until it changes.
func (s *Server) MarkVerified(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.contacts[id]; ok {
		c.IsVerify = true
	}
}

// AllowDuplicates makes the legacy CreateAlertContact and UpdateAlertContact
// accept a phone or email another contact has (on) or refuse it (off, the
// default): ARMS documents the uniqueness rule for the Alert Management
// family only, so the legacy family may behave either way. The Alert
// Management family always refuses, as documented.
func (s *Server) AllowDuplicates(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.allowDup = on
}

// amContact is a contact as the Alert Management family answers it.
func amContact(c *Contact) map[string]any {
	return map[string]any{
		"ContactId": float64(c.ContactID), "ArmsContactId": c.ContactID, "ContactName": c.ContactName,
		"Phone": c.Phone, "Email": c.Email, "IsVerify": c.IsVerify, "IsEmailVerify": c.IsEmailVerify,
		"ReissueSendNotice": c.ReissueSendNotice, "DingRobotUrl": c.DingRobot,
	}
}

// pageOf reads the required Page and Size of the Alert Management family's
// searches.
func pageOf(p url.Values) (page, size int, e *apiError) {
	if p.Get("Page") == "" || p.Get("Size") == "" {
		return 0, 0, &apiError{400, "ParameterMissing", "Page and Size are mandatory for this action."}
	}
	page, size = atoiOr(p.Get("Page"), 1), atoiOr(p.Get("Size"), defaultPage)
	if page < 1 || size < 1 || size > maxPageSize {
		return 0, 0, &apiError{400, "ParameterIllegal", "Page or Size is out of range."}
	}
	return page, size, nil
}

// createOrUpdateContact creates a contact, or, with ContactId, replaces one.
// Phone or email is required and each belongs to one contact; a changed
// phone is not verified.
func (s *Server) createOrUpdateContact(p url.Values, rid string) (any, *apiError) {
	c := Contact{
		ContactName: p.Get("ContactName"),
		Phone:       p.Get("Phone"),
		Email:       p.Get("Email"),
		DingRobot:   p.Get("DingRobotUrl"),
		CorpUserID:  p.Get("CorpUserId"),
	}
	if raw := p.Get("ReissueSendNotice"); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 0 || n > 3 {
			return nil, &apiError{400, "ParameterIllegal", "ReissueSendNotice must be 0, 1, 2 or 3."}
		}
		c.ReissueSendNotice = n
	}
	if c.ContactName == "" {
		return nil, &apiError{400, "ParameterMissing", "ContactName is mandatory for this action."}
	}
	if c.Phone == "" && c.Email == "" {
		return nil, &apiError{400, "ParameterMissing", "At least one of Phone and Email is required."}
	}
	var self int64
	if raw := p.Get("ContactId"); raw != "" {
		id, err := strconv.ParseInt(raw, 10, 64)
		old, ok := s.contacts[id]
		if err != nil || !ok {
			return nil, &apiError{400, "ParameterIllegal", "The contact does not exist."}
		}
		self = id
		c.ContactID, c.CreateTime = id, old.CreateTime
		c.IsVerify = old.IsVerify && old.Phone == c.Phone
		c.IsEmailVerify = old.IsEmailVerify && strings.EqualFold(old.Email, c.Email)
		c.lastLink = old.lastLink
	}
	if e := s.unique(c, self); e != nil {
		return nil, e
	}
	if self == 0 {
		if len(s.contacts) >= s.max {
			return nil, &apiError{400, "ParameterIllegal", "The number of alert contacts has reached the upper limit."}
		}
		s.nextID++
		c.ContactID = s.nextID
		c.CreateTime = s.now().UnixMilli()
	}
	c.UpdateTime = s.now().UnixMilli()
	s.put(&c)
	body := amContact(&c)
	// The create answer spells it so (DescribeContacts: IsEmailVerify).
	delete(body, "IsEmailVerify")
	delete(body, "ArmsContactId")
	body["isEmailVerify"] = c.IsEmailVerify
	return map[string]any{"RequestId": rid, "AlertContact": body}, nil
}

// unique refuses a phone or email another contact has: documented for this
// family, with no error code; the stand-in uses ParameterIllegal.
//
// It asks the phone and email index: a create costs the same at the
// hundred-thousandth contact of a sustained load run as at the first.
func (s *Server) unique(c Contact, self int64) *apiError {
	if id, ok := s.owners["p:"+c.Phone]; ok && c.Phone != "" && id != self {
		return &apiError{400, "ParameterIllegal", "The phone number is already used by another contact."}
	}
	if id, ok := s.owners["e:"+strings.ToLower(c.Email)]; ok && c.Email != "" && id != self {
		return &apiError{400, "ParameterIllegal", "The email is already used by another contact."}
	}
	return nil
}

func (s *Server) describeContacts(p url.Values, rid string) (any, *apiError) {
	page, size, e := pageOf(p)
	if e != nil {
		return nil, e
	}
	ids := parseIDs(p.Get("ContactIds"))
	name, phone, email := p.Get("ContactName"), p.Get("Phone"), strings.ToLower(p.Get("Email"))
	var match []*Contact
	for _, c := range s.contacts {
		switch {
		case len(ids) > 0 && !ids[c.ContactID]:
		case name != "" && !strings.Contains(c.ContactName, name):
		case phone != "" && !strings.Contains(c.Phone, phone):
		case email != "" && !strings.Contains(c.emailKey, email):
		default:
			match = append(match, c)
		}
	}
	sort.Slice(match, func(i, j int) bool { return match[i].ContactID > match[j].ContactID })
	total := len(match)
	from := min((page-1)*size, total)
	to := min(from+size, total)
	out := []map[string]any{}
	for _, c := range match[from:to] {
		out = append(out, amContact(c))
	}
	return map[string]any{"RequestId": rid, "PageBean": map[string]any{"Page": page, "Size": size, "Total": total, "AlertContacts": out}}, nil
}

func (s *Server) deleteContact(p url.Values, rid string) (any, *apiError) {
	return s.delete(p, rid) // the same parameter and answer
}

// sendTTSVerifyLink sends the contact's phone a verification link: the
// phone must be the contact's, and links for one contact are refused when
// asked for too often.
func (s *Server) sendTTSVerifyLink(p url.Values, rid string) (any, *apiError) {
	id, err := strconv.ParseInt(p.Get("ContactId"), 10, 64)
	if err != nil || p.Get("Phone") == "" {
		return nil, &apiError{400, "ParameterMissing", "ContactId and Phone are mandatory for this action."}
	}
	c, ok := s.contacts[id]
	if !ok || c.Phone != p.Get("Phone") {
		return nil, &apiError{400, "ParameterIllegal", "The contact does not exist or does not have this phone number."}
	}
	now := s.now()
	if !c.lastLink.IsZero() && now.Sub(c.lastLink) < s.verifyEvery {
		return nil, &apiError{400, "AlertPhoneVerifyTooFrequently", "Verification links sent too often."}
	}
	c.lastLink = now
	s.links = append(s.links, VerifyLink{ContactID: id, Phone: c.Phone, At: now})
	return map[string]any{"RequestId": rid, "IsSuccess": true}, nil
}

// amMembers reads ContactIds, comma-separated as documented (the example
// is [1,2,3]); the legacy family's space-separated form is refused.
func (s *Server) amMembers(raw string) ([]int64, *apiError) {
	raw = strings.Trim(strings.TrimSpace(raw), "[]")
	if strings.Contains(strings.TrimSpace(raw), " ") && !strings.Contains(raw, ",") {
		return nil, &apiError{400, "ParameterIllegal", "ContactIds must be contact ids separated by commas."}
	}
	var out []int64
	for _, f := range strings.Split(raw, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, &apiError{400, "ParameterIllegal", "ContactIds must be contact ids separated by commas."}
		}
		if _, ok := s.contacts[id]; !ok {
			return nil, &apiError{400, "ParameterIllegal", "The contact " + f + " does not exist."}
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

func (s *Server) createOrUpdateContactGroup(p url.Values, rid string) (any, *apiError) {
	name := p.Get("ContactGroupName")
	if name == "" {
		return nil, &apiError{400, "ParameterMissing", "ContactGroupName is mandatory for this action."}
	}
	members, e := s.amMembers(p.Get("ContactIds"))
	if e != nil {
		return nil, e
	}
	now := s.now().UnixMilli()
	var g *Group
	if raw := p.Get("ContactGroupId"); raw != "" {
		id, err := strconv.ParseInt(raw, 10, 64)
		var ok bool
		if g, ok = s.groups[id]; err != nil || !ok {
			return nil, &apiError{400, "ParameterIllegal", "The contact group does not exist."}
		}
		g.ContactGroupName, g.members, g.UpdateTime = name, members, now
	} else {
		s.nextGroup++
		g = &Group{ContactGroupID: s.nextGroup, ContactGroupName: name, CreateTime: now, UpdateTime: now, members: members}
		s.groups[g.ContactGroupID] = g
	}
	ids := make([]string, 0, len(g.members))
	for _, m := range g.members {
		ids = append(ids, strconv.FormatInt(m, 10))
	}
	return map[string]any{"RequestId": rid, "AlertContactGroup": map[string]any{
		"ContactGroupId": float64(g.ContactGroupID), "ContactGroupName": g.ContactGroupName, "ContactIds": strings.Join(ids, ","),
	}}, nil
}

func (s *Server) describeContactGroups(p url.Values, rid string) (any, *apiError) {
	page, size, e := pageOf(p)
	if e != nil {
		return nil, e
	}
	ids := parseIDs(p.Get("GroupIds"))
	name, detail := p.Get("ContactGroupName"), p.Get("IsDetail") == "true"
	var match []*Group
	for _, g := range s.groups {
		if (len(ids) == 0 || ids[g.ContactGroupID]) && (name == "" || strings.Contains(g.ContactGroupName, name)) {
			match = append(match, g)
		}
	}
	sort.Slice(match, func(i, j int) bool { return match[i].ContactGroupID > match[j].ContactGroupID })
	total := len(match)
	from := min((page-1)*size, total)
	to := min(from+size, total)
	out := []map[string]any{}
	for _, g := range match[from:to] {
		item := map[string]any{"ContactGroupId": float64(g.ContactGroupID), "ArmsContactGroupId": g.ContactGroupID, "ContactGroupName": g.ContactGroupName}
		if detail {
			members := []map[string]any{}
			for _, id := range g.members {
				if c, ok := s.contacts[id]; ok {
					// The members are listed without their verification.
					members = append(members, map[string]any{"ContactId": float64(c.ContactID), "ArmsContactId": c.ContactID,
						"ContactName": c.ContactName, "Phone": c.Phone, "Email": c.Email})
				}
			}
			item["Contacts"] = members
		}
		out = append(out, item)
	}
	return map[string]any{"RequestId": rid, "PageBean": map[string]any{"Page": page, "Size": size, "Total": total, "AlertContactGroups": out}}, nil
}

func (s *Server) deleteContactGroup(p url.Values, rid string) (any, *apiError) {
	return s.deleteGroup(p, rid)
}
