package arms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/responses"
	sdkarms "github.com/aliyun/alibaba-cloud-sdk-go/services/arms"

	"github.com/armsbot/armsbot/commands"
)

// The Alert Management family (CreateOrUpdateContact and its kin): what
// the console offers today. It documents that a phone or email belongs to
// one contact, and that ARMS calls and texts only verified phones.

// amPageSize is how many contacts or groups one Describe call asks for
// when the bot needs them all.
const amPageSize = 100

// idString renders the family's float ids as the integers they are.
func idString(id float64) string { return strconv.FormatFloat(id, 'f', -1, 64) }

// alertContact is CreateOrUpdateContact's answer. It is read from the
// common request's body: the contact goes out through the SDK's
// CommonRequest, because the SDK's typed request has no CorpUserId.
type alertContact struct {
	RequestID    string `json:"RequestId"`
	AlertContact struct {
		ContactID float64 `json:"ContactId"`
	} `json:"AlertContact"`
}

func (c *Client) writeContact(ctx context.Context, ct commands.Contact, retry func(*Error) bool) (commands.Receipt, error) {
	req := amContactRequest(ct)
	resp := responses.NewCommonResponse()
	if _, err := c.doRetrying(ctx, "CreateOrUpdateContact", req, resp, retry); err != nil {
		return commands.Receipt{}, err
	}
	var out alertContact
	if err := json.Unmarshal(resp.GetHttpContentBytes(), &out); err != nil || out.AlertContact.ContactID == 0 {
		return commands.Receipt{}, &Error{action: "CreateOrUpdateContact", requestID: out.RequestID, sent: true,
			cause: errors.New("response carries no ContactId")}
	}
	return commands.Receipt{ContactID: idString(out.AlertContact.ContactID), RequestID: out.RequestID}, nil
}

func (c *Client) amCreateContact(ctx context.Context, ct commands.Contact) (commands.Receipt, error) {
	ct.ID = ""
	return c.writeContact(ctx, ct, (*Error).throttled)
}

func (c *Client) amUpdateContact(ctx context.Context, ct commands.Contact) (commands.Receipt, error) {
	return c.writeContact(ctx, ct, (*Error).retrySafe)
}

func (c *Client) amSearchContacts(ctx context.Context, q commands.ContactQuery) (commands.ContactPage, error) {
	req := sdkarms.CreateDescribeContactsRequest()
	req.ContactName, req.Phone, req.Email = q.Name, q.Phone, q.Email
	req.ContactIds = strings.Join(q.IDs, ",")
	page, size := max(q.Page, 1), q.PageSize
	if size <= 0 {
		size = 10
	}
	req.Page, req.Size = requests.NewInteger(page), requests.NewInteger(size)
	resp := sdkarms.CreateDescribeContactsResponse()
	if _, err := c.doRetrying(ctx, "DescribeContacts", req, resp, (*Error).retrySafe); err != nil {
		return commands.ContactPage{}, err
	}
	pb := resp.PageBean
	out := commands.ContactPage{Total: int(pb.Total), Page: page, PageSize: size, RequestID: resp.RequestId}
	for _, ct := range pb.AlertContacts {
		out.Contacts = append(out.Contacts, amContact(ct))
	}
	return out, nil
}

// amContact is a contact as DescribeContacts answers it.
func amContact(ct sdkarms.Contacts) commands.Contact {
	c := commands.Contact{ID: idString(ct.ContactId), Name: ct.ContactName, Phone: ct.Phone, Email: ct.Email, Webhook: ct.DingRobotUrl}
	if ct.Phone != "" {
		c.Verified = commands.PhoneUnverified
		if ct.IsVerify {
			c.Verified = commands.PhoneVerified
		}
	}
	if n := ct.ReissueSendNotice; n >= 0 && int(n) < len(commands.Fallbacks) {
		c.Fallback = commands.Fallbacks[n]
	}
	return c
}

// contactsByID reads the contacts ids, amPageSize at a time.
func (c *Client) contactsByID(ctx context.Context, ids []string) (map[string]commands.Contact, error) {
	out := map[string]commands.Contact{}
	for from := 0; from < len(ids); from += amPageSize {
		chunk := ids[from:min(from+amPageSize, len(ids))]
		page, err := c.amSearchContacts(ctx, commands.ContactQuery{IDs: chunk, PageSize: amPageSize})
		if err != nil {
			return nil, err
		}
		for _, ct := range page.Contacts {
			out[ct.ID] = ct
		}
	}
	return out, nil
}

func (c *Client) amDeleteContact(ctx context.Context, id string) (commands.Receipt, error) {
	req := amDeleteContactRequest(id)
	resp := sdkarms.CreateDeleteContactResponse()
	unknown, err := c.doRetrying(ctx, "DeleteContact", req, resp, (*Error).retrySafe)
	nothing, err := nothingDeleted(err, resp.DeleteContactIsSuccess)
	switch {
	case err != nil:
		return commands.Receipt{}, err
	case nothing && !unknown:
		return commands.Receipt{RequestID: resp.RequestId}, fmt.Errorf("delete contact %s: %w", id, commands.ErrNotFound)
	}
	return commands.Receipt{ContactID: id, RequestID: resp.RequestId}, nil
}

// SendVerification asks ARMS to send the contact's phone its verification
// link (SendTTSVerifyLink): ARMS calls and texts only a number whose owner
// opened it. It is retried only when throttled: a repeated link after a
// lost answer would meet AlertPhoneVerifyTooFrequently.
func (c *Client) SendVerification(ctx context.Context, contactID, phone string) (commands.Receipt, error) {
	if c.family != AlertManagement {
		return commands.Receipt{}, fmt.Errorf("arms: the %s contact family has no phone verification", c.family)
	}
	req := sdkarms.CreateSendTTSVerifyLinkRequest()
	req.ContactId = requests.Integer(contactID)
	req.Phone = phone
	resp := sdkarms.CreateSendTTSVerifyLinkResponse()
	if _, err := c.doRetrying(ctx, "SendTTSVerifyLink", req, resp, (*Error).throttled); err != nil {
		return commands.Receipt{}, err
	}
	if !resp.SendTTSVerifyLinkIsSuccess {
		return commands.Receipt{}, &Error{action: "SendTTSVerifyLink", code: "IsSuccess.False", requestID: resp.RequestId,
			status: resp.GetHttpStatus(), sent: true, message: "ARMS answered IsSuccess=false"}
	}
	return commands.Receipt{ContactID: contactID, RequestID: resp.RequestId}, nil
}

func (c *Client) writeGroup(ctx context.Context, g commands.Group, retry func(*Error) bool) (commands.Receipt, error) {
	req := amGroupRequest(g)
	resp := sdkarms.CreateCreateOrUpdateContactGroupResponse()
	if _, err := c.doRetrying(ctx, "CreateOrUpdateContactGroup", req, resp, retry); err != nil {
		return commands.Receipt{}, err
	}
	if resp.AlertContactGroup.ContactGroupId == 0 {
		return commands.Receipt{}, &Error{action: "CreateOrUpdateContactGroup", requestID: resp.RequestId, sent: true,
			cause: errors.New("response carries no ContactGroupId")}
	}
	return commands.Receipt{GroupID: idString(resp.AlertContactGroup.ContactGroupId), RequestID: resp.RequestId}, nil
}

func (c *Client) amCreateGroup(ctx context.Context, name string, contactIDs []string) (commands.Receipt, error) {
	return c.writeGroup(ctx, commands.Group{Name: name, ContactIDs: contactIDs}, (*Error).throttled)
}

func (c *Client) amUpdateGroup(ctx context.Context, g commands.Group) (commands.Receipt, error) {
	return c.writeGroup(ctx, g, (*Error).retrySafe)
}

// amSearchGroups reads every matching group, page by page. The family
// cannot filter groups by member, and lists members without whether their
// phone is verified: both are done here, from DescribeContacts.
func (c *Client) amSearchGroups(ctx context.Context, q commands.GroupQuery) (commands.GroupList, error) {
	detail := q.Detail || q.ContactID != "" || q.MemberIDs
	var out commands.GroupList
	for page := 1; ; page++ {
		req := sdkarms.CreateDescribeContactGroupsRequest()
		req.ContactGroupName = q.Name
		req.GroupIds = strings.Join(q.IDs, ",")
		req.IsDetail = requests.NewBoolean(detail)
		req.Page, req.Size = requests.NewInteger(page), requests.NewInteger(amPageSize)
		resp := sdkarms.CreateDescribeContactGroupsResponse()
		if _, err := c.doRetrying(ctx, "DescribeContactGroups", req, resp, (*Error).retrySafe); err != nil {
			return commands.GroupList{}, err
		}
		out.RequestID = resp.RequestId
		for _, g := range resp.PageBean.AlertContactGroups {
			group := commands.Group{ID: idString(g.ContactGroupId), Name: g.ContactGroupName}
			for _, ct := range g.Contacts {
				id := idString(ct.ContactId)
				group.ContactIDs = append(group.ContactIDs, id)
				group.Members = append(group.Members, commands.Contact{ID: id, Name: ct.ContactName, Phone: ct.Phone, Email: ct.Email})
			}
			if q.ContactID == "" || containsID(group.ContactIDs, q.ContactID) {
				out.Groups = append(out.Groups, group)
			}
		}
		if len(resp.PageBean.AlertContactGroups) < amPageSize || int64(page*amPageSize) >= resp.PageBean.Total {
			break
		}
	}
	if !q.Detail {
		for i := range out.Groups {
			out.Groups[i].Members = nil
		}
		return out, nil
	}
	var ids []string
	for _, g := range out.Groups {
		ids = append(ids, g.ContactIDs...)
	}
	full, err := c.contactsByID(ctx, ids)
	if err != nil {
		return commands.GroupList{}, err
	}
	for _, g := range out.Groups {
		for i, m := range g.Members {
			if ct, ok := full[m.ID]; ok {
				g.Members[i] = ct
			}
		}
	}
	return out, nil
}

func containsID(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func (c *Client) amDeleteGroup(ctx context.Context, id string) (commands.Receipt, error) {
	req := amDeleteGroupRequest(id)
	resp := sdkarms.CreateDeleteContactGroupResponse()
	unknown, err := c.doRetrying(ctx, "DeleteContactGroup", req, resp, (*Error).retrySafe)
	nothing, err := nothingDeleted(err, resp.DeleteContactGroupIsSuccess)
	switch {
	case err != nil:
		return commands.Receipt{}, err
	case nothing && !unknown:
		return commands.Receipt{RequestID: resp.RequestId}, fmt.Errorf("delete group %s: %w", id, commands.ErrNotFound)
	}
	return commands.Receipt{GroupID: id, RequestID: resp.RequestId}, nil
}
