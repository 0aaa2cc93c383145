package arms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	sdkarms "github.com/aliyun/alibaba-cloud-sdk-go/services/arms"

	"github.com/armsbot/armsbot/commands"
)

// The legacy contact family (CreateAlertContact and its kin), which ARMS
// no longer maintains but still serves.

// legacyCreateContact calls CreateAlertContact. It retries only throttling, which
// the gateway answers before ARMS does anything; whether any other failed
// create may have happened is reported by the error's OutcomeUnknown.
func (c *Client) legacyCreateContact(ctx context.Context, ct commands.Contact) (commands.Receipt, error) {
	req := createContactRequest(ct)
	resp := sdkarms.CreateCreateAlertContactResponse()
	if _, err := c.doRetrying(ctx, "CreateAlertContact", req, resp, (*Error).throttled); err != nil {
		return commands.Receipt{}, err
	}
	if resp.ContactId == "" {
		return commands.Receipt{}, &Error{action: "CreateAlertContact", requestID: resp.RequestId, sent: true,
			cause: errors.New("response carries no ContactId")}
	}
	return commands.Receipt{ContactID: resp.ContactId, RequestID: resp.RequestId}, nil
}

// legacySearchContacts calls SearchAlertContact. Filters may match partially, as
// the console's search does; callers wanting exact matches filter further.
func (c *Client) legacySearchContacts(ctx context.Context, q commands.ContactQuery) (commands.ContactPage, error) {
	req := sdkarms.CreateSearchAlertContactRequest()
	req.ContactName = q.Name
	req.Phone = q.Phone
	req.Email = q.Email
	if len(q.IDs) > 0 {
		// A JSON array of strings, as Terraform sends it.
		b, _ := json.Marshal(q.IDs)
		req.ContactIds = string(b)
	}
	if q.Page > 0 {
		req.CurrentPage = strconv.Itoa(q.Page)
	}
	if q.PageSize > 0 {
		req.PageSize = strconv.Itoa(q.PageSize)
	}
	resp := sdkarms.CreateSearchAlertContactResponse()
	if _, err := c.doRetrying(ctx, "SearchAlertContact", req, resp, (*Error).retrySafe); err != nil {
		return commands.ContactPage{}, err
	}
	pb := resp.PageBean
	page := commands.ContactPage{Total: pb.TotalCount, Page: pb.PageNumber, PageSize: pb.PageSize, RequestID: resp.RequestId}
	for _, ct := range pb.Contacts {
		c := commands.Contact{
			ID:        strconv.FormatInt(ct.ContactId, 10),
			Name:      ct.ContactName,
			Phone:     ct.Phone,
			Email:     ct.Email,
			Webhook:   ct.DingRobot,
			SystemNoc: ct.SystemNoc,
		}
		if ct.CreateTime > 0 {
			c.Created = time.UnixMilli(ct.CreateTime)
		}
		page.Contacts = append(page.Contacts, c)
	}
	return page, nil
}

// legacyUpdateContact calls UpdateAlertContact with every field of ct: ARMS clears
// the channels an update leaves out, so callers pass the whole contact.
func (c *Client) legacyUpdateContact(ctx context.Context, ct commands.Contact) (commands.Receipt, error) {
	req := updateContactRequest(ct)
	resp := sdkarms.CreateUpdateAlertContactResponse()
	if _, err := c.doRetrying(ctx, "UpdateAlertContact", req, resp, (*Error).retrySafe); err != nil {
		return commands.Receipt{}, err
	}
	// A 2xx answer can still say it did nothing.
	if !resp.UpdateAlertContactIsSuccess {
		return commands.Receipt{}, &Error{action: "UpdateAlertContact", code: "IsSuccess.False", requestID: resp.RequestId,
			status: resp.GetHttpStatus(), sent: true, message: "ARMS answered IsSuccess=false"}
	}
	return commands.Receipt{ContactID: ct.ID, RequestID: resp.RequestId}, nil
}

// legacyDeleteContact calls DeleteAlertContact. It reports commands.ErrNotFound
// when ARMS says there was nothing to delete.
func (c *Client) legacyDeleteContact(ctx context.Context, id string) (commands.Receipt, error) {
	req := deleteContactRequest(id)
	resp := sdkarms.CreateDeleteAlertContactResponse()
	unknown, err := c.doRetrying(ctx, "DeleteAlertContact", req, resp, (*Error).retrySafe)
	nothing, err := nothingDeleted(err, resp.DeleteAlertContactIsSuccess)
	switch {
	case err != nil:
		return commands.Receipt{}, err
	case nothing && !unknown:
		return commands.Receipt{RequestID: resp.RequestId}, fmt.Errorf("delete contact %s: %w", id, commands.ErrNotFound)
	}
	// After an attempt whose answer was lost, "nothing to delete" means
	// that attempt deleted it.
	return commands.Receipt{ContactID: id, RequestID: resp.RequestId}, nil
}

// legacyCreateGroup calls CreateAlertContactGroup. Like a contact's create, it
// is retried only when ARMS surely did nothing.
func (c *Client) legacyCreateGroup(ctx context.Context, name string, contactIDs []string) (commands.Receipt, error) {
	req := createGroupRequest(commands.Group{Name: name, ContactIDs: contactIDs})
	resp := sdkarms.CreateCreateAlertContactGroupResponse()
	if _, err := c.doRetrying(ctx, "CreateAlertContactGroup", req, resp, (*Error).throttled); err != nil {
		return commands.Receipt{}, err
	}
	if resp.ContactGroupId == "" {
		return commands.Receipt{}, &Error{action: "CreateAlertContactGroup", requestID: resp.RequestId, sent: true,
			cause: errors.New("response carries no ContactGroupId")}
	}
	return commands.Receipt{GroupID: resp.ContactGroupId, RequestID: resp.RequestId}, nil
}

// legacySearchGroups calls SearchAlertContactGroup, which is not paged.
func (c *Client) legacySearchGroups(ctx context.Context, q commands.GroupQuery) (commands.GroupList, error) {
	req := sdkarms.CreateSearchAlertContactGroupRequest()
	req.ContactGroupName = q.Name
	if len(q.IDs) > 0 {
		b, _ := json.Marshal(q.IDs) // a JSON array of strings, as Terraform sends it
		req.ContactGroupIds = string(b)
	}
	if q.ContactID != "" {
		req.ContactId = requests.Integer(q.ContactID)
	}
	req.IsDetail = requests.NewBoolean(q.Detail || q.MemberIDs)
	resp := sdkarms.CreateSearchAlertContactGroupResponse()
	if _, err := c.doRetrying(ctx, "SearchAlertContactGroup", req, resp, (*Error).retrySafe); err != nil {
		return commands.GroupList{}, err
	}
	out := commands.GroupList{RequestID: resp.RequestId}
	for _, g := range resp.ContactGroups {
		group := commands.Group{ID: strconv.FormatInt(g.ContactGroupId, 10), Name: g.ContactGroupName}
		for _, ct := range g.Contacts {
			id := strconv.FormatInt(ct.ContactId, 10)
			group.ContactIDs = append(group.ContactIDs, id)
			group.Members = append(group.Members, commands.Contact{ID: id, Name: ct.ContactName, Phone: ct.Phone,
				Email: ct.Email, Webhook: ct.DingRobot, SystemNoc: ct.SystemNoc})
		}
		out.Groups = append(out.Groups, group)
	}
	return out, nil
}

// legacyUpdateGroup calls UpdateAlertContactGroup with the group's name and its
// complete member list: ARMS replaces both.
func (c *Client) legacyUpdateGroup(ctx context.Context, g commands.Group) (commands.Receipt, error) {
	req := updateGroupRequest(g)
	resp := sdkarms.CreateUpdateAlertContactGroupResponse()
	if _, err := c.doRetrying(ctx, "UpdateAlertContactGroup", req, resp, (*Error).retrySafe); err != nil {
		return commands.Receipt{}, err
	}
	if !resp.UpdateAlertContactGroupIsSuccess {
		return commands.Receipt{}, &Error{action: "UpdateAlertContactGroup", code: "IsSuccess.False", requestID: resp.RequestId,
			status: resp.GetHttpStatus(), sent: true, message: "ARMS answered IsSuccess=false"}
	}
	return commands.Receipt{GroupID: g.ID, RequestID: resp.RequestId}, nil
}

// legacyDeleteGroup calls DeleteAlertContactGroup; commands.ErrNotFound when ARMS
// says there was nothing to delete.
func (c *Client) legacyDeleteGroup(ctx context.Context, id string) (commands.Receipt, error) {
	req := deleteGroupRequest(id)
	resp := sdkarms.CreateDeleteAlertContactGroupResponse()
	unknown, err := c.doRetrying(ctx, "DeleteAlertContactGroup", req, resp, (*Error).retrySafe)
	nothing, err := nothingDeleted(err, resp.DeleteAlertContactGroupIsSuccess)
	switch {
	case err != nil:
		return commands.Receipt{}, err
	case nothing && !unknown:
		return commands.Receipt{RequestID: resp.RequestId}, fmt.Errorf("delete group %s: %w", id, commands.ErrNotFound)
	}
	return commands.Receipt{GroupID: id, RequestID: resp.RequestId}, nil
}

// nothingDeleted reads a delete's outcome: ARMS says there was nothing to
// delete with HTTP 200 and IsSuccess false, or refuses with a 400 that
// says so; any other error stands.
func nothingDeleted(err error, success bool) (bool, error) {
	var e *Error
	if errors.As(err, &e) && e.missing() {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return !success, nil
}
