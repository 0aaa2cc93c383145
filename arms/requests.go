package arms

import (
	"fmt"
	"sort"
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

// personal names the parameters that hold personal data.
var personal = map[string]string{"PhoneNum": "phone", "Email": "email", "DingRobotWebhookUrl": "webhook"}

// Plan is the request w would send, with the parameters the SDK would
// put on it (its own signing parameters aside), for a dry run.
func (c *Client) Plan(w commands.Write) (commands.Request, error) {
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
	if err := requests.InitParams(req); err != nil {
		return commands.Request{}, fmt.Errorf("arms: %s: %w", w.Action, err)
	}
	out := commands.Request{Action: req.GetActionName()}
	for _, params := range []map[string]string{req.GetQueryParams(), req.GetFormParams()} {
		for k, v := range params {
			if v != "" {
				out.Params = append(out.Params, commands.Param{Name: k, Value: v, Personal: personal[k]})
			}
		}
	}
	sort.Slice(out.Params, func(i, j int) bool { return out.Params[i].Name < out.Params[j].Name })
	return out, nil
}
