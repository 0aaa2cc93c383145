package dingtalktest

import (
	"fmt"
	"net/http"
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
		writeJSON(w, map[string]any{"errcode": 40014, "errmsg": "不合法的access_token", "request_id": newID()})
	case deny != "":
		writeJSON(w, map[string]any{"errcode": 60011, "errmsg": "应用尚未开通所需的权限：[" + deny + "]", "request_id": newID()})
	case !found:
		writeJSON(w, map[string]any{"errcode": 60121, "errmsg": "找不到该用户", "request_id": newID()})
	default:
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "request_id": newID(), "result": map[string]any{
			"userid": id, "name": p.Name, "mobile": p.Mobile, "state_code": p.StateCode, "email": p.Email, "org_email": p.OrgEmail,
			"active": true,
		}})
	}
}
