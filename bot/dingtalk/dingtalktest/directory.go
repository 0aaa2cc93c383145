package dingtalktest

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Person is someone in the stand-in's organisation directory, in the
// fields topapi/v2/user/get returns.
type Person struct {
	Name      string
	Mobile    string
	StateCode string
	Email     string
	OrgEmail  string
}

// WithholdFields makes user/get leave these fields ("mobile", "email")
// out of every answer, as DingTalk does when the app lacks their field
// permission; none restores them.
func (s *Server) WithholdFields(fields ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.withheld = fields
}

// DocumentedErrorForms makes the directory answer errors as its
// documentation shows them (errcode 40014, 60011, 60121) instead of as
// the oapi host answers in practice (errcode 88 with the code in
// sub_code, and 33012 for an unknown user).
func (s *Server) DocumentedErrorForms(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.documented = on
}

// dirError answers errcode code with msg, in the form the server is set to.
func (s *Server) dirError(w http.ResponseWriter, code int, msg string) {
	s.mu.Lock()
	documented := s.documented
	s.mu.Unlock()
	if documented {
		writeJSON(w, map[string]any{"errcode": code, "errmsg": msg, "request_id": newID()})
		return
	}
	if code == 60121 {
		writeJSON(w, map[string]any{"errcode": 33012, "errmsg": "无效的USERID", "request_id": newID()})
		return
	}
	writeJSON(w, map[string]any{"errcode": 88, "errmsg": "鉴权异常", "sub_code": strconv.Itoa(code), "sub_msg": msg, "request_id": newID()})
}

// SetPerson puts staffID in the directory.
func (s *Server) SetPerson(staffID string, p Person) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.people[staffID] = p
}

// DenyDirectory makes user/get answer that the app lacks permission, as
// DingTalk does before the permission is granted in the console ("" allows
// again).
func (s *Server) DenyDirectory(permission string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny = permission
}

// DirectoryLookups counts the user/get calls answered with a person.
func (s *Server) DirectoryLookups() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookups
}

// oapiToken answers GET /gettoken?appkey=&appsecret=, the oapi host's own
// token call.
func (s *Server) oapiToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("appkey") != s.appKey || q.Get("appsecret") != s.appSecret {
		writeJSON(w, map[string]any{"errcode": 40089, "errmsg": "不合法的corpid或corpsecret"})
		return
	}
	s.mu.Lock()
	s.tokens++
	tok := fmt.Sprintf("oapi-token-%d", s.tokens)
	s.oapiValid[tok] = time.Now().Add(s.tokenTTL)
	s.mu.Unlock()
	writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "access_token": tok, "expires_in": int(s.tokenTTL.Seconds())})
}

// userGet answers POST /topapi/v2/user/get?access_token= {"userid"}.
func (s *Server) userGet(w http.ResponseWriter, r *http.Request, body map[string]any) {
	s.mu.Lock()
	exp, ok := s.oapiValid[r.URL.Query().Get("access_token")]
	deny := s.deny
	id, _ := body["userid"].(string)
	p, found := s.people[id]
	if ok && time.Now().Before(exp) && deny == "" && found {
		s.lookups++
	}
	s.mu.Unlock()
	switch {
	case !ok || time.Now().After(exp):
		s.dirError(w, 40014, "不合法的access_token")
	case deny != "":
		s.dirError(w, 60011, "应用尚未开通所需的权限：["+deny+"]")
	case !found:
		s.dirError(w, 60121, "找不到该用户")
	default:
		result := map[string]any{"userid": id, "name": p.Name, "mobile": p.Mobile, "state_code": p.StateCode, "email": p.Email,
			"org_email": p.OrgEmail, "active": true}
		s.mu.Lock()
		for _, f := range s.withheld {
			delete(result, f)
		}
		s.mu.Unlock()
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "request_id": newID(), "result": result})
	}
}
