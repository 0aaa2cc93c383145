package armstest

import (
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Notification policies and IM robots, as documented for API 2019-08-08:
// ListNotificationPolicies (Page and Size required; receivers only with
// IsDetail=true), CreateOrUpdateIMRobot, DescribeIMRobots (which, like
// ARMS, answers with each robot's signing secret and the policies that
// name it) and DeleteIMRobot. Tests set policies up with AddPolicy: the
// bot only reads them.

// Policy is a notification policy.
type Policy struct {
	ID       int64
	Name     string
	Disabled bool
	Channels []string
	// Objects are its receivers, of any NotifyObjectType: CONTACT,
	// CONTACT_GROUP, ARMS_CONTACT, ARMS_CONTACT_GROUP, DING_ROBOT,
	// CONTACT_SCHEDULE, ...
	Objects            []NotifyObject
	EscalationPolicyID int64
}

// NotifyObject is one receiver of a policy.
type NotifyObject struct {
	Type     string
	ID       int64
	Name     string
	Channels []string
}

// Robot is a stored IM robot.
type Robot struct {
	RobotID      int64
	RobotName    string
	Type         string
	RobotAddress string
	DingSignKey  string
	DailyNoc     bool
	DailyNocTime string
	CreateTime   string
}

// AddPolicy stores p (a new id when p.ID is 0, else it replaces the policy
// with that id) and returns its id.
func (s *Server) AddPolicy(p Policy) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.ID == 0 {
		s.nextPolicy++
		p.ID = 1000 + s.nextPolicy
	}
	s.policies[p.ID] = &p
	return p.ID
}

// RemovePolicy deletes policy id.
func (s *Server) RemovePolicy(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.policies, id)
}

// Robots returns the stored robots, by id.
func (s *Server) Robots() []Robot {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Robot, 0, len(s.robots))
	for _, r := range s.robots {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RobotID < out[j].RobotID })
	return out
}

func (s *Server) listNotificationPolicies(p url.Values, rid string) (any, *apiError) {
	page, size, e := pageOf(p)
	if e != nil {
		return nil, e
	}
	detail, name := p.Get("IsDetail") == "true", p.Get("Name")
	ids := parseIDs(p.Get("Ids"))
	var match []*Policy
	for _, pol := range s.policies {
		if (len(ids) == 0 || ids[pol.ID]) && (name == "" || strings.Contains(pol.Name, name)) {
			match = append(match, pol)
		}
	}
	sort.Slice(match, func(i, j int) bool { return match[i].ID < match[j].ID })
	total := len(match)
	from := min((page-1)*size, total)
	to := min(from+size, total)
	out := []map[string]any{}
	for _, pol := range match[from:to] {
		state := "enable"
		if pol.Disabled {
			state = "disable"
		}
		item := map[string]any{"Id": pol.ID, "Name": pol.Name, "State": state, "EscalationPolicyId": pol.EscalationPolicyID,
			"SendRecoverMessage": true, "Repeat": true, "RepeatInterval": 600}
		if detail {
			objs := []map[string]any{}
			for _, o := range pol.Objects {
				objs = append(objs, map[string]any{"NotifyObjectType": o.Type, "NotifyObjectId": o.ID, "NotifyObjectName": o.Name,
					"NotifyChannels": o.Channels})
			}
			item["NotifyRule"] = map[string]any{"NotifyStartTime": "00:00", "NotifyEndTime": "23:59", "NotifyChannels": pol.Channels,
				"NotifyObjects": objs}
		}
		out = append(out, item)
	}
	return map[string]any{"RequestId": rid, "PageBean": map[string]any{"Page": page, "Size": size, "Total": total,
		"NotificationPolicies": out}}, nil
}

var nocTimes = regexp.MustCompile(`^([01]\d|2[0-3]):[0-5]\d(,([01]\d|2[0-3]):[0-5]\d)*$`)

func (s *Server) createOrUpdateIMRobot(p url.Values, rid string) (any, *apiError) {
	name, addr, typ := p.Get("RobotName"), p.Get("RobotAddress"), p.Get("Type")
	switch {
	case name == "" || addr == "" || typ == "":
		return nil, &apiError{400, "ParameterMissing", "RobotName, RobotAddress and Type are mandatory for this action."}
	case typ != "dingding" && typ != "wechat" && typ != "feishu":
		return nil, &apiError{400, "ParameterIllegal", "Type must be dingding, wechat or feishu."}
	case p.Get("DailyNoc") == "true" && !nocTimes.MatchString(p.Get("DailyNocTime")):
		return nil, &apiError{400, "ParameterIllegal", "DailyNocTime must be times of day, HH:mm, separated by commas."}
	}
	r := &Robot{RobotName: name, Type: typ, RobotAddress: addr, DingSignKey: p.Get("DingSignKey"),
		DailyNoc: p.Get("DailyNoc") == "true", DailyNocTime: p.Get("DailyNocTime")}
	if raw := p.Get("RobotId"); raw != "" {
		id, err := strconv.ParseInt(raw, 10, 64)
		old, ok := s.robots[id]
		if err != nil || !ok {
			return nil, &apiError{400, "ParameterIllegal", "The robot does not exist."}
		}
		r.RobotID, r.CreateTime = id, old.CreateTime
	} else {
		s.nextRobot++
		r.RobotID, r.CreateTime = s.nextRobot, s.now().Format(time.DateTime)
	}
	s.robots[r.RobotID] = r
	return map[string]any{"RequestId": rid, "AlertRobot": map[string]any{"RobotId": float64(r.RobotID), "RobotName": r.RobotName,
		"Type": r.Type, "RobotAddress": r.RobotAddress, "DailyNoc": r.DailyNoc, "DailyNocTime": r.DailyNocTime}}, nil
}

func (s *Server) describeIMRobots(p url.Values, rid string) (any, *apiError) {
	page, size, e := pageOf(p)
	if e != nil {
		return nil, e
	}
	ids, name := parseIDs(p.Get("RobotIds")), p.Get("RobotName")
	var match []*Robot
	for _, r := range s.robots {
		if (len(ids) == 0 || ids[r.RobotID]) && (name == "" || strings.Contains(r.RobotName, name)) {
			match = append(match, r)
		}
	}
	sort.Slice(match, func(i, j int) bool { return match[i].RobotID > match[j].RobotID })
	total := len(match)
	from := min((page-1)*size, total)
	to := min(from+size, total)
	out := []map[string]any{}
	for _, r := range match[from:to] {
		rules := []map[string]any{}
		for _, pol := range s.policies {
			for _, o := range pol.Objects {
				if strings.HasPrefix(o.Type, "DING_ROBOT") && o.ID == r.RobotID {
					rules = append(rules, map[string]any{"Id": pol.ID, "Name": pol.Name})
				}
			}
		}
		out = append(out, map[string]any{"RobotId": float64(r.RobotID), "RobotName": r.RobotName, "Type": r.Type,
			"RobotAddr": r.RobotAddress, "DailyNoc": r.DailyNoc, "DailyNocTime": r.DailyNocTime, "DingSignKey": r.DingSignKey,
			"CreateTime": r.CreateTime, "DispatchRules": rules})
	}
	return map[string]any{"RequestId": rid, "PageBean": map[string]any{"Page": page, "Size": size, "Total": total,
		"AlertIMRobots": out}}, nil
}

func (s *Server) deleteIMRobot(p url.Values, rid string) (any, *apiError) {
	id, err := strconv.ParseInt(p.Get("RobotId"), 10, 64)
	if err != nil {
		return nil, &apiError{400, "ParameterMissing", "RobotId is mandatory for this action."}
	}
	if _, ok := s.robots[id]; !ok {
		if s.missing400 {
			return nil, &apiError{400, "InvalidParameter", "The robot " + strconv.FormatInt(id, 10) + " does not exist."}
		}
		return map[string]any{"IsSuccess": false, "RequestId": rid}, nil
	}
	delete(s.robots, id)
	return map[string]any{"IsSuccess": true, "RequestId": rid}, nil
}
