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
	"strconv"
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

// The directory's errcodes this package tells apart. The oapi host answers
// them in two forms: on their own, as the documentation shows, or as
// errcode 88 with the code in sub_code, as it answers in practice.
const (
	codeNoPermission = 60011 // the app lacks a permission, named in errmsg
	codeNoUser       = 60121 // no such user
	codeNoUserDoc    = 33012 // no such user, as user/get documents it
	codeBadToken     = 40014 // invalid access token
	codeTokenExpired = 42001
	codeSubCode      = 88 // the real code is in sub_code
)

// DirectoryError is a failed lookup; it implements commands.DirectoryError.
type DirectoryError struct {
	Code       int
	Message    string
	permission string
	// unconfigured: the bot has no app key, so nothing was asked.
	unconfigured bool
}

func (e *DirectoryError) Error() string {
	return fmt.Sprintf("dingtalk directory: errcode %d: %s", e.Code, e.Message)
}

// Permission is the permission to request in the developer console when
// the app lacks one.
func (e *DirectoryError) Permission() string { return e.permission }

// NotFound: the organisation has no such user.
func (e *DirectoryError) NotFound() bool { return e.Code == codeNoUser || e.Code == codeNoUserDoc }

var _ commands.DirectoryError = (*DirectoryError)(nil)

// Unconfigured: the bot has no DingTalk app to ask with.
func (e *DirectoryError) Unconfigured() bool { return e.unconfigured }

// errNoApp: without the app's key there is no directory to ask.
var errNoApp = &DirectoryError{Code: -1, Message: "DINGTALK_APP_KEY and DINGTALK_APP_SECRET are not both set", unconfigured: true}

// permissionRE finds the permission DingTalk names: 应用尚未开通所需的权限：[qyapi_get_member].
var permissionRE = regexp.MustCompile(`\[([A-Za-z0-9_.]+)\]`)

// memberReadPermission is what user/get needs when DingTalk names none.
const memberReadPermission = "qyapi_get_member"

// The field permissions without which user/get leaves a person's mobile
// number or email out, as the developer console names them.
const (
	mobilePermission = "企业员工手机号信息"
	emailPermission  = "邮箱等个人信息"
)

// Person returns what the directory says of the user staffID.
func (d *Directory) Person(ctx context.Context, staffID string) (commands.Person, error) {
	if d == nil || d.appKey == "" || d.appSecret == "" {
		return commands.Person{}, errNoApp
	}
	var out struct {
		codeBody
		Result struct {
			Name string `json:"name"`
			// Pointers: DingTalk leaves mobile and email out when the app
			// lacks their field permission, and sends them empty when the
			// person has none.
			Mobile    *string `json:"mobile"`
			StateCode string  `json:"state_code"`
			Email     *string `json:"email"`
			OrgEmail  string  `json:"org_email"`
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
		if attempt == 0 && errors.As(err, &de) && de.badToken() {
			d.tokens.forget()
			continue
		}
		if err != nil {
			return commands.Person{}, err
		}
		r := out.Result
		p := commands.Person{Name: r.Name, StateCode: r.StateCode, Email: r.OrgEmail}
		if r.Mobile != nil {
			p.Mobile = *r.Mobile
		} else {
			p.Withheld = append(p.Withheld, commands.Withheld{Field: "mobile", Permission: mobilePermission})
		}
		switch {
		case r.Email != nil && *r.Email != "":
			p.Email = *r.Email
		case r.Email == nil && p.Email == "":
			p.Withheld = append(p.Withheld, commands.Withheld{Field: "email", Permission: emailPermission})
		}
		return p, nil
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

// codeBody is the errcode and errmsg every oapi answer carries, and the
// sub_code and sub_msg that errcode 88 comes with.
type codeBody struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
	SubCode string `json:"sub_code"`
	SubMsg  string `json:"sub_msg"`
}

func (c codeBody) err() error {
	if c.ErrCode == 0 {
		return nil
	}
	code, msg := c.ErrCode, c.ErrMsg
	if c.ErrCode == codeSubCode {
		if n, err := strconv.Atoi(c.SubCode); err == nil {
			code = n
		}
		if c.SubMsg != "" {
			msg = c.SubMsg + " (" + c.ErrMsg + ")"
		}
	}
	e := &DirectoryError{Code: code, Message: msg}
	if code == codeNoPermission {
		e.permission = memberReadPermission
		if m := permissionRE.FindStringSubmatch(msg); m != nil {
			e.permission = m[1]
		}
	}
	return e
}

// badToken: the access token was refused; a new one may do.
func (e *DirectoryError) badToken() bool { return e.Code == codeBadToken || e.Code == codeTokenExpired }

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
