package dingtalk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Files a sender sends the robot: DingTalk delivers them in one-to-one
// chats only, as a message with a download code that expires soon; the
// OpenAPI exchanges the code for a temporary link.

// ErrFileExpired: DingTalk no longer knows the download code (it expired,
// or is another robot's).
var ErrFileExpired = errors.New("the file's download code is wrong or has expired")

// ErrFileTooLarge: the file is larger than the bot reads.
var ErrFileTooLarge = errors.New("the file is too large")

// File returns what a file message carries: its download code and name.
func (m *Message) File() (downloadCode, name string, ok bool) {
	if m.MsgType != "file" || len(m.Content) == 0 {
		return "", "", false
	}
	var c struct {
		DownloadCode string `json:"downloadCode"`
		FileName     string `json:"fileName"`
	}
	if json.Unmarshal(m.Content, &c) != nil || c.DownloadCode == "" {
		return "", "", false
	}
	return c.DownloadCode, c.FileName, true
}

// DownloadFile fetches the file of m, at once (its code expires), reading
// at most limit bytes.
func (o *OpenAPI) DownloadFile(ctx context.Context, m *Message, limit int64) ([]byte, error) {
	code, _, ok := m.File()
	if !ok {
		return nil, errors.New("not a file message")
	}
	robot := o.robotOf(m)
	var out struct {
		DownloadURL string `json:"downloadUrl"`
	}
	err := o.withToken(ctx, http.MethodPost, "/v1.0/robot/messageFiles/download", map[string]string{"downloadCode": code, "robotCode": robot}, &out)
	var ae *apiError
	switch {
	case errors.As(err, &ae) && (ae.Code == "invalidParameter.robotCode.downloadCode" || ae.Code == "invalidParameter.robotCode.auth"):
		return nil, fmt.Errorf("%w: %s", ErrFileExpired, ae.Code)
	case err != nil:
		return nil, fmt.Errorf("get the file's link: %w", err)
	case out.DownloadURL == "":
		return nil, errors.New("get the file's link: empty downloadUrl")
	}
	ctx, cancel := context.WithTimeout(ctx, PostTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, out.DownloadURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("download the file: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("download the file: HTTP %d", resp.StatusCode)
	}
	if resp.ContentLength > limit {
		return nil, ErrFileTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("download the file: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, ErrFileTooLarge
	}
	return b, nil
}
