package arms

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	sdkarms "github.com/aliyun/alibaba-cloud-sdk-go/services/arms"

	"github.com/armsbot/armsbot/commands"
)

// The requests each write sends, built in one place: the calls send them,
// and a dry run (Plan) shows them.

func createContactRequest(ct commands.Contact) *sdkarms.CreateAlertContactRequest {
	req := sdkarms.CreateCreateAlertContactRequest()
	req.ContactName = ct.Name
	req.PhoneNum = ct.Phone
	req.Email = ct.Email
	req.DingRobotWebhookUrl = ct.Webhook
	req.SystemNoc = requests.NewBoolean(ct.SystemNoc)
	return req
}

func updateContactRequest(ct commands.Contact) *sdkarms.UpdateAlertContactRequest {
	req := sdkarms.CreateUpdateAlertContactRequest()
	req.ContactId = requests.Integer(ct.ID)
	req.ContactName = ct.Name
	req.PhoneNum = ct.Phone
	req.Email = ct.Email
	req.DingRobotWebhookUrl = ct.Webhook
	req.SystemNoc = requests.NewBoolean(ct.SystemNoc)
	return req
}

func deleteContactRequest(id string) *sdkarms.DeleteAlertContactRequest {
	req := sdkarms.CreateDeleteAlertContactRequest()
	req.ContactId = requests.Integer(id)
	return req
}

func createGroupRequest(g commands.Group) *sdkarms.CreateAlertContactGroupRequest {
	req := sdkarms.CreateCreateAlertContactGroupRequest()
	req.ContactGroupName = g.Name
	req.ContactIds = strings.Join(g.ContactIDs, " ") // space-separated, as documented
	return req
}

func updateGroupRequest(g commands.Group) *sdkarms.UpdateAlertContactGroupRequest {
	req := sdkarms.CreateUpdateAlertContactGroupRequest()
	req.ContactGroupId = requests.Integer(g.ID)
	req.ContactGroupName = g.Name
	req.ContactIds = strings.Join(g.ContactIDs, " ")
	return req
}

func deleteGroupRequest(id string) *sdkarms.DeleteAlertContactGroupRequest {
	req := sdkarms.CreateDeleteAlertContactGroupRequest()
	req.ContactGroupId = requests.Integer(id)
	return req
}

// The Alert Management family's requests.

// amContactParams are CreateOrUpdateContact's parameters for ct, a create
// when ct has no id: in the body, as the SDK's typed request places them,
// with CorpUserId, which the typed request lacks; the robot URL in the
// query. Empty values are left out, as the SDK leaves them.
func amContactParams(ct commands.Contact) (body, query map[string]string) {
	body, query = map[string]string{}, map[string]string{}
	set := func(m map[string]string, k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set(body, "ContactId", ct.ID)
	set(body, "ContactName", ct.Name)
	set(body, "Phone", ct.Phone)
	set(body, "Email", ct.Email)
	set(body, "CorpUserId", ct.CorpUserID)
	if i := slices.Index(commands.Fallbacks, ct.Fallback); i >= 0 {
		body["ReissueSendNotice"] = strconv.Itoa(i)
	}
	set(query, "DingRobotUrl", ct.Webhook)
	return body, query
}

// amContactRequest is CreateOrUpdateContact for ct, through the SDK's
// CommonRequest.
func amContactRequest(ct commands.Contact) *requests.CommonRequest {
	req := requests.NewCommonRequest()
	req.Method = requests.POST
	req.Product, req.Version, req.ApiName = "ARMS", "2019-08-08", "CreateOrUpdateContact"
	body, query := amContactParams(ct)
	maps.Copy(req.FormParams, body)
	maps.Copy(req.QueryParams, query)
	req.TransToAcsRequest()
	return req
}

func amDeleteContactRequest(id string) *sdkarms.DeleteContactRequest {
	req := sdkarms.CreateDeleteContactRequest()
	req.ContactId = requests.Integer(id)
	return req
}

// amGroupRequest creates g, or replaces it when it has an id. Its members
// are comma-separated, as this family documents (the legacy one takes
// spaces).
func amGroupRequest(g commands.Group) *sdkarms.CreateOrUpdateContactGroupRequest {
	req := sdkarms.CreateCreateOrUpdateContactGroupRequest()
	if g.ID != "" {
		req.ContactGroupId = requests.Integer(g.ID)
	}
	req.ContactGroupName = g.Name
	req.ContactIds = strings.Join(g.ContactIDs, ",")
	return req
}

func amDeleteGroupRequest(id string) *sdkarms.DeleteContactGroupRequest {
	req := sdkarms.CreateDeleteContactGroupRequest()
	req.ContactGroupId = requests.Integer(id)
	return req
}

// personal names the parameters that hold personal data.
var personal = map[string]string{"PhoneNum": "phone", "Phone": "phone", "Email": "email", "DingRobotWebhookUrl": "webhook", "DingRobotUrl": "webhook", "RobotAddress": "webhook"}

// Plan is the request w would send, with the parameters the SDK would
// put on it (its own signing parameters aside), for a dry run.
func (c *Client) Plan(w commands.Write) (commands.Request, error) {
	if c.family == AlertManagement {
		return amPlan(w)
	}
	var req requests.AcsRequest
	switch w.Action {
	case "create":
		req = createContactRequest(w.Contact)
	case "update":
		req = updateContactRequest(w.Contact)
	case "delete":
		req = deleteContactRequest(w.Contact.ID)
	case "group create":
		req = createGroupRequest(w.Group)
	case "group update":
		req = updateGroupRequest(w.Group)
	case "group delete":
		req = deleteGroupRequest(w.Group.ID)
	default:
		return commands.Request{}, fmt.Errorf("arms: no request for %q", w.Action)
	}
	return planOf(req, w.Action)
}

// planOf is req as a dry run shows it.
func planOf(req requests.AcsRequest, action string) (commands.Request, error) {
	if err := requests.InitParams(req); err != nil {
		return commands.Request{}, fmt.Errorf("arms: %s: %w", action, err)
	}
	return planned(req.GetActionName(), req.GetQueryParams(), req.GetFormParams()), nil
}

func planned(action string, params ...map[string]string) commands.Request {
	out := commands.Request{Action: action}
	for _, ps := range params {
		for k, v := range ps {
			if v != "" {
				out.Params = append(out.Params, commands.Param{Name: k, Value: v, Personal: personal[k]})
			}
		}
	}
	sort.Slice(out.Params, func(i, j int) bool { return out.Params[i].Name < out.Params[j].Name })
	return out
}

// amPlan is what w sends in the Alert Management family.
func amPlan(w commands.Write) (commands.Request, error) {
	switch w.Action {
	case "create", "update":
		ct := w.Contact
		if w.Action == "create" {
			ct.ID = ""
		}
		body, query := amContactParams(ct)
		return planned("CreateOrUpdateContact", body, query), nil
	case "delete":
		return planOf(amDeleteContactRequest(w.Contact.ID), w.Action)
	case "group create", "group update":
		g := w.Group
		if w.Action == "group create" {
			g.ID = ""
		}
		return planOf(amGroupRequest(g), w.Action)
	case "group delete":
		return planOf(amDeleteGroupRequest(w.Group.ID), w.Action)
	case "robot create":
		rb := w.Robot
		if rb.Secret != "" {
			rb.Secret = "SEC…" // a dry run shows that one is sent, never which
		}
		rb.Webhook = commands.MaskWebhook(rb.Webhook) // a credential, in any chat
		return planOf(robotRequest(rb), w.Action)
	case "robot delete":
		return planOf(deleteRobotRequest(w.Robot.ID), w.Action)
	}
	return commands.Request{}, fmt.Errorf("arms: no request for %q", w.Action)
}
