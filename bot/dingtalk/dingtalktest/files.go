package dingtalktest

import (
	"net/http"
	"strings"
)

// Files the robot receives in one-to-one chats: a file message carries a
// download code, the OpenAPI exchanges it for a temporary link (and
// answers invalidParameter.robotCode.downloadCode once the code is unknown
// or expired), and the link serves the file once.

const (
	fileDownloadPath = "/v1.0/robot/messageFiles/download"
	filesPath        = "/files/"
)

// AddFile makes a file to send the robot, and returns its download code.
func (s *Server) AddFile(data []byte) string {
	code := newID()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[code] = data
	return code
}

// ExpireFile makes a download code unknown, as time does.
func (s *Server) ExpireFile(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.files, code)
}

func (s *Server) fileLink(w http.ResponseWriter, r *http.Request, body map[string]any) {
	if !s.authorised(r.Header.Get("x-acs-dingtalk-access-token")) {
		w.WriteHeader(http.StatusBadRequest)
		writeJSON(w, map[string]any{"code": "InvalidAuthentication", "message": "不合法的access_token"})
		return
	}
	code, _ := body["downloadCode"].(string)
	robot, _ := body["robotCode"].(string)
	s.mu.Lock()
	data, ok := s.files[code]
	token := newID()
	if ok {
		s.links[token] = data
	}
	s.mu.Unlock()
	switch {
	case robot == "":
		w.WriteHeader(http.StatusBadRequest)
		writeJSON(w, map[string]any{"code": "MissingrobotCode", "message": "robotCode is mandatory for this action."})
	case !ok:
		w.WriteHeader(http.StatusBadRequest)
		writeJSON(w, map[string]any{"code": "invalidParameter.robotCode.downloadCode", "message": "下载码有误或者已经过期"})
	default:
		writeJSON(w, map[string]any{"downloadUrl": s.URL + filesPath + token})
	}
}

func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) {
	token := strings.TrimPrefix(r.URL.Path, filesPath)
	s.mu.Lock()
	data, ok := s.links[token]
	delete(s.links, token) // a temporary link
	s.mu.Unlock()
	if !ok {
		http.Error(w, "AccessDenied", http.StatusForbidden)
		return
	}
	_, _ = w.Write(data)
}
