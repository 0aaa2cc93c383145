package bot

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/commands/catalog"
)

// FuzzWebhook posts arbitrary bodies, correctly signed or not, to the real
// webhook handler (real Redis store, ARMS stand-in): it must answer 200 with
// a DingTalk reply, or 400/401/413, and never fail or panic. A reply that
// others may read holds no live markup (link, image, tag, URL, @all) and
// no phone number in full, whatever the body said. The seeds (DingTalk's
// sample, malformed, odd and hostile bodies) are in testdata/fuzz.
func FuzzWebhook(f *testing.F) {
	_, handler := testApp(f, map[string]string{
		"BOT_ADMINS":     "fuzz-admin", // so that commands run, and render ARMS's answers
		"BOT_RATE_LIMIT": "0", "DINGTALK_SESSION_WEBHOOK_PREFIXES": "http://127.0.0.1:1/never",
		// Every execution stays short: a slow one would stall the fuzzer.
		"BOT_SYNC_REPLY_BUDGET": "50ms", "BOT_COMMAND_TIMEOUT": "2s", "BOT_REPLY_TIMEOUT": "1s",
	})
	web := httptest.NewServer(handler)
	defer web.Close()

	f.Fuzz(func(t *testing.T, body []byte, signed bool) {
		secret := "s"
		if !signed {
			secret = "not-the-secret"
		}
		req, err := dingtalk.NewCallbackRequest(context.Background(), web.URL+"/dingtalk/webhook", secret, time.Now(), body)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			out, err := dingtalk.DecodeReply(raw)
			if err != nil || (out.MsgType != "markdown" && out.MsgType != "empty") {
				t.Fatalf("200 with a body that is no DingTalk reply: %s", raw)
			}
			if out.MsgType == "markdown" && (out.Markdown == nil || out.Markdown.Text == "") {
				t.Fatalf("empty markdown reply: %s", raw)
			}
			if m, err := dingtalk.DecodeMessage(bytes.NewReader(body)); err == nil && out.Markdown != nil && !m.OneToOne() {
				text := strings.TrimSuffix(out.Markdown.Text, "\n\n@"+m.SenderStaffID)
				if live := catalog.LiveMarkup(text); len(live) > 0 {
					t.Fatalf("a group reply has live markup %q: %q", live, text)
				}
				if p := fuzzPhone.FindString(notPhones.ReplaceAllString(text, "")); p != "" {
					t.Fatalf("a group reply shows the phone number %q: %q", p, text)
				}
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		case http.StatusUnauthorized:
			if signed {
				t.Fatalf("a correctly signed request was refused: %s", raw)
			}
		default:
			t.Fatalf("HTTP %d for %q: %s", resp.StatusCode, body, raw)
		}
		if !signed && resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a badly signed request got HTTP %d", resp.StatusCode)
		}
	})
}

var (
	// fuzzPhone is seven digits or more, however separated.
	fuzzPhone = regexp.MustCompile(`\d(?:[ .\-()]{0,2}\d){6,}`)
	// notPhones are the numbers a reply may show: ARMS RequestIds (UUIDs)
	// and the examples the catalog gives.
	notPhones = regexp.MustCompile(`[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|13811112222|\+85291234567`)
)
