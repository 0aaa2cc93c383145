package arms

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/responses"
	sdkarms "github.com/aliyun/alibaba-cloud-sdk-go/services/arms"

	"github.com/armsbot/armsbot/commands"
)

// Notification policies (ListNotificationPolicies) and IM robots
// (CreateOrUpdateIMRobot, DescribeIMRobots, DeleteIMRobot): where alerts
// go. A policy names its receivers by kind: the legacy family's contacts
// and groups as ARMS_CONTACT and ARMS_CONTACT_GROUP, Alert Management's
// as CONTACT and CONTACT_GROUP, robots as DING_ROBOT; schedules
// (CONTACT_SCHEDULE), webhooks and the other family's objects are
// receivers too, which the bot does not manage.

// policyPageSize is how many policies one ListNotificationPolicies call
// asks for.
const policyPageSize = 100

// listedPolicies is ListNotificationPolicies' answer, read from the common
// request's body: the SDK's typed answer has no State.
type listedPolicies struct {
	RequestID string `json:"RequestId"`
	PageBean  struct {
		Total                int64 `json:"Total"`
		NotificationPolicies []struct {
			ID                 int64  `json:"Id"`
			Name               string `json:"Name"`
			State              string `json:"State"`
			EscalationPolicyID int64  `json:"EscalationPolicyId"`
			NotifyRule         struct {
				NotifyChannels []string `json:"NotifyChannels"`
				NotifyObjects  []struct {
					NotifyObjectType string   `json:"NotifyObjectType"`
					NotifyObjectID   int64    `json:"NotifyObjectId"`
					NotifyObjectName string   `json:"NotifyObjectName"`
					NotifyChannels   []string `json:"NotifyChannels"`
				} `json:"NotifyObjects"`
			} `json:"NotifyRule"`
		} `json:"NotificationPolicies"`
	} `json:"PageBean"`
}

// receiverKind is what a NotifyObjectType is in the configured family.
func (c *Client) receiverKind(t string) commands.ReceiverKind {
	contact, group := "ARMS_CONTACT", "ARMS_CONTACT_GROUP"
	if c.family == AlertManagement {
		contact, group = "CONTACT", "CONTACT_GROUP"
	}
	switch {
	case t == contact:
		return commands.ReceiverContact
	case t == group:
		return commands.ReceiverGroup
	case c.family == AlertManagement && strings.HasPrefix(t, "DING_ROBOT"):
		return commands.ReceiverRobot
	}
	return commands.ReceiverOther
}

// NotificationPolicies reads every notification policy, in detail, page by
// page. A policy is enabled unless its State says "disable".
func (c *Client) NotificationPolicies(ctx context.Context) ([]commands.Policy, error) {
	var out []commands.Policy
	for page := 1; ; page++ {
		req := requests.NewCommonRequest()
		req.Method = requests.POST
		req.Product, req.Version, req.ApiName = "ARMS", "2019-08-08", "ListNotificationPolicies"
		req.QueryParams["Page"] = strconv.Itoa(page)
		req.QueryParams["Size"] = strconv.Itoa(policyPageSize)
		req.QueryParams["IsDetail"] = "true"
		req.TransToAcsRequest()
		resp := responses.NewCommonResponse()
		if _, err := c.doRetrying(ctx, "ListNotificationPolicies", req, resp, (*Error).retrySafe); err != nil {
			return nil, err
		}
		var got listedPolicies
		if err := json.Unmarshal(resp.GetHttpContentBytes(), &got); err != nil {
			return nil, &Error{action: "ListNotificationPolicies", sent: true, cause: errors.New("answer is not JSON")}
		}
		for _, p := range got.PageBean.NotificationPolicies {
			pol := commands.Policy{ID: strconv.FormatInt(p.ID, 10), Name: p.Name, Enabled: !strings.EqualFold(p.State, "disable"),
				Channels: p.NotifyRule.NotifyChannels, Escalates: p.EscalationPolicyID != 0}
			for _, o := range p.NotifyRule.NotifyObjects {
				pol.Receivers = append(pol.Receivers, commands.Receiver{Kind: c.receiverKind(o.NotifyObjectType),
					ID: strconv.FormatInt(o.NotifyObjectID, 10), Name: o.NotifyObjectName, Type: o.NotifyObjectType, Channels: o.NotifyChannels})
			}
			out = append(out, pol)
		}
		if len(got.PageBean.NotificationPolicies) < policyPageSize || int64(page*policyPageSize) >= got.PageBean.Total {
			return out, nil
		}
	}
}

// robotRequest is CreateOrUpdateIMRobot for a new DingTalk robot rb.
func robotRequest(rb commands.Robot) *sdkarms.CreateOrUpdateIMRobotRequest {
	req := sdkarms.CreateCreateOrUpdateIMRobotRequest()
	req.RobotName = rb.Name
	req.Type = "dingding"
	req.RobotAddress = rb.Webhook
	req.DingSignKey = rb.Secret
	if len(rb.Daily) > 0 {
		req.DailyNoc = requests.NewBoolean(true)
		req.DailyNocTime = strings.Join(rb.Daily, ",")
	}
	return req
}

func deleteRobotRequest(id string) *sdkarms.DeleteIMRobotRequest {
	req := sdkarms.CreateDeleteIMRobotRequest()
	req.RobotId = requests.Integer(id)
	return req
}

// CreateRobot registers rb. Like a contact's create, it is retried only
// when throttled: a second create after a lost answer could register the
// robot twice.
func (c *Client) CreateRobot(ctx context.Context, rb commands.Robot) (commands.Receipt, error) {
	resp := sdkarms.CreateCreateOrUpdateIMRobotResponse()
	if _, err := c.doRetrying(ctx, "CreateOrUpdateIMRobot", robotRequest(rb), resp, (*Error).throttled); err != nil {
		return commands.Receipt{}, err
	}
	if resp.AlertRobot.RobotId == 0 {
		return commands.Receipt{}, &Error{action: "CreateOrUpdateIMRobot", requestID: resp.RequestId, sent: true,
			cause: errors.New("response carries no RobotId")}
	}
	return commands.Receipt{RobotID: idString(resp.AlertRobot.RobotId), RequestID: resp.RequestId}, nil
}

// SearchRobots reads every matching robot, page by page. ARMS answers each
// with its signing secret: only whether there is one is kept.
func (c *Client) SearchRobots(ctx context.Context, q commands.RobotQuery) ([]commands.Robot, error) {
	var out []commands.Robot
	for page := 1; ; page++ {
		req := sdkarms.CreateDescribeIMRobotsRequest()
		req.RobotName = q.Name
		req.RobotIds = strings.Join(q.IDs, ",")
		req.Page, req.Size = requests.NewInteger(page), requests.NewInteger(amPageSize)
		resp := sdkarms.CreateDescribeIMRobotsResponse()
		if _, err := c.doRetrying(ctx, "DescribeIMRobots", req, resp, (*Error).retrySafe); err != nil {
			return nil, err
		}
		for _, rb := range resp.PageBean.AlertIMRobots {
			robot := commands.Robot{ID: idString(rb.RobotId), Name: rb.RobotName, Webhook: rb.RobotAddr, Signed: rb.DingSignKey != ""}
			if rb.DailyNoc && rb.DailyNocTime != "" {
				robot.Daily = strings.Split(rb.DailyNocTime, ",")
			}
			for _, d := range rb.DispatchRules {
				id := d.Id // documented as Id; the SDK's struct also has RuleId
				if id == 0 {
					id = d.RuleId
				}
				robot.Policies = append(robot.Policies, commands.PolicyRef{ID: strconv.FormatInt(id, 10), Name: d.Name})
			}
			out = append(out, robot)
		}
		if len(resp.PageBean.AlertIMRobots) < amPageSize || int64(page*amPageSize) >= resp.PageBean.Total {
			return out, nil
		}
	}
}

// DeleteRobot deletes robot id; commands.ErrNotFound when ARMS says there
// was nothing to delete.
func (c *Client) DeleteRobot(ctx context.Context, id string) (commands.Receipt, error) {
	resp := sdkarms.CreateDeleteIMRobotResponse()
	unknown, err := c.doRetrying(ctx, "DeleteIMRobot", deleteRobotRequest(id), resp, (*Error).retrySafe)
	nothing, err := nothingDeleted(err, resp.DeleteIMRobotIsSuccess)
	switch {
	case err != nil:
		return commands.Receipt{}, err
	case nothing && !unknown:
		return commands.Receipt{RequestID: resp.RequestId}, errors.Join(errors.New("delete robot "+id), commands.ErrNotFound)
	}
	return commands.Receipt{RobotID: id, RequestID: resp.RequestId}, nil
}
