package dingtalk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/armsbot/armsbot/commands"
)

// DefaultOAPIBase is DingTalk's older API host, where the organisation
// directory lives.
const DefaultOAPIBase = "https://oapi.dingtalk.com"

// Directory looks people up in the organisation's DingTalk directory
// (topapi/v2/user/get). It takes its access token from the oapi host's own
// gettoken call: whether the newer api.dingtalk.com token is accepted by
// oapi APIs is disputed in public sources and not settled by DingTalk's
// documentation, so the two are not mixed.
type Directory struct {
	base      string
	appKey    string
	appSecret string
	client    *http.Client
	tokens    tokenCache
}

// NewDirectory looks people up at base as the app appKey.
func NewDirectory(base, appKey, appSecret string, client *http.Client, now func() time.Time) *Directory {
	d := &Directory{base: strings.TrimRight(base, "/"), appKey: appKey, appSecret: appSecret, client: client}
	d.tokens = tokenCache{now: now, fetch: d.fetchToken}
	return d
}

// The directory's errcodes this package tells apart.
const (
	codeNoPermission = 60011 // the app lacks a permission, named in errmsg
	codeNoUser       = 60121 // no such user
	codeBadToken     = 40014 // invalid access token
	codeTokenExpired = 42001
)

// DirectoryError is a failed lookup; it implements commands.DirectoryError.
type DirectoryError struct {
	Code       int
	Message    string
	permission string
}

func (e *DirectoryError) Error() string {
	return fmt.Sprintf("dingtalk directory: errcode %d: %s", e.Code, e.Message)
}

// Permission is the permission to request in the developer console when
// the app lacks one.
func (e *DirectoryError) Permission() string { return e.permission }

// NotFound: the organisation has no such user.
func (e *DirectoryError) NotFound() bool { return e.Code == codeNoUser }

var _ commands.DirectoryError = (*DirectoryError)(nil)

// errNoApp: without the app's key there is no directory to ask.
var errNoApp = &DirectoryError{Code: -1, Message: "DINGTALK_APP_KEY is not set", permission: "DINGTALK_APP_KEY"}

// permissionRE finds the permission DingTalk names: 应用尚未开通所需的权限：[qyapi_get_member].
var permissionRE = regexp.MustCompile(`\[([A-Za-z0-9_.]+)\]`)

// memberReadPermission is what user/get needs when DingTalk names none.
const memberReadPermission = "qyapi_get_member"

// Person returns what the directory says of the user staffID.
func (d *Directory) Person(ctx context.Context, staffID string) (commands.Person, error) {
	if d == nil || d.appKey == "" || d.appSecret == "" {
		return commands.Person{}, errNoApp
	}
	var out struct {
		codeBody
		Result struct {
			Name      string `json:"name"`
			Mobile    string `json:"mobile"`
			StateCode string `json:"state_code"`
			Email     string `json:"email"`
			OrgEmail  string `json:"org_email"`
		} `json:"result"`
	}
	for attempt := 0; ; attempt++ {
		tok, err := d.tokens.get(ctx)
		if err != nil {
			return commands.Person{}, err
		}
		err = d.call(ctx, http.MethodPost, "/topapi/v2/user/get?access_token="+url.QueryEscape(tok),
			map[string]string{"userid": staffID, "language": "zh_CN"}, &out)
		var de *DirectoryError
		if attempt == 0 && errors.As(err, &de) && (de.Code == codeBadToken || de.Code == codeTokenExpired) {
			d.tokens.forget()
			continue
		}
		if err != nil {
			return commands.Person{}, err
		}
		email := out.Result.Email
		if email == "" {
			email = out.Result.OrgEmail
		}
		return commands.Person{Name: out.Result.Name, Mobile: out.Result.Mobile, StateCode: out.Result.StateCode, Email: email}, nil
	}
}

// fetchToken gets the oapi host's own token (gettoken; two hours).
func (d *Directory) fetchToken(ctx context.Context) (string, time.Duration, error) {
	var out struct {
		codeBody
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	q := url.Values{"appkey": {d.appKey}, "appsecret": {d.appSecret}}
	if err := d.call(ctx, http.MethodGet, "/gettoken?"+q.Encode(), nil, &out); err != nil {
		return "", 0, fmt.Errorf("get oapi access token: %w", err)
	}
	return out.AccessToken, time.Duration(out.ExpiresIn) * time.Second, nil
}

// codeBody is the errcode and errmsg every oapi answer carries.
type codeBody struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

func (c codeBody) err() error {
	if c.ErrCode == 0 {
		return nil
	}
	e := &DirectoryError{Code: c.ErrCode, Message: c.ErrMsg}
	if c.ErrCode == codeNoPermission {
		e.permission = memberReadPermission
		if m := permissionRE.FindStringSubmatch(c.ErrMsg); m != nil {
			e.permission = m[1]
		}
	}
	return e
}

// call sends one request and decodes its answer into out, whose first
// field is a codeBody. The URL carries the app secret or the token: it
// stays out of errors.
func (d *Directory) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, body)
	if err != nil {
		return errors.New("dingtalk directory: bad request")
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("dingtalk directory: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("dingtalk directory: HTTP %d", resp.StatusCode)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("dingtalk directory: decode answer: %w", err)
	}
	var cb codeBody
	_ = json.Unmarshal(raw, &cb)
	return cb.err()
}
