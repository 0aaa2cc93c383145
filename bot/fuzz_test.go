package bot

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
)

// FuzzWebhook posts arbitrary bodies, correctly signed or not, to the real
// webhook handler (real Redis store, ARMS stand-in): it must answer 200 with
// a DingTalk reply, or 400/401/413, and never fail or panic. The seeds
// (DingTalk's sample, malformed and odd bodies) are in testdata/fuzz.
func FuzzWebhook(f *testing.F) {
	_, handler := testApp(f, map[string]string{
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
