package bot

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// FuzzWebhook posts arbitrary bodies, correctly signed or not, to the real
// webhook handler (real Redis store, ARMS stand-in): it must answer 200 with
// a DingTalk reply, or 400/401/413, and never fail or panic.
func FuzzWebhook(f *testing.F) {
	f.Add([]byte(officialSample), true)
	f.Add([]byte(`{"msgId":"m1","msgtype":"text","conversationType":"2","senderStaffId":"u","text":{"content":" /contact add name=\"x email=@"}}`), true)
	f.Add([]byte(`{"msgId":"m2","msgtype":"picture","content":{"downloadCode":"x"}}`), true)
	f.Add([]byte(`{"msgId":"m3","msgtype":"text","createAt":"12x","text":{"content":"/help"}}`), true)
	f.Add([]byte(`{"msgId":"m4","msgtype":"text","atUsers":[{"dingtalkId":1}],"text":{"content":"@a @b /whoami"}}`), true)
	f.Add([]byte(`{"msgId":"m5","msgtype":"text","text":{"content":"/perm grant @x contact"}}`), false)
	f.Add([]byte(`[1,2,3]`), true)
	f.Add([]byte(``), true)

	_, handler := testApp(f, map[string]string{
		"BOT_RATE_LIMIT": "0", "DINGTALK_SESSION_WEBHOOK_PREFIXES": "http://127.0.0.1:1/never",
		// Every execution stays short: a slow one would stall the fuzzer.
		"BOT_SYNC_REPLY_BUDGET": "50ms", "BOT_COMMAND_TIMEOUT": "2s", "BOT_REPLY_TIMEOUT": "1s",
	})
	web := httptest.NewServer(handler)
	defer web.Close()

	f.Fuzz(func(t *testing.T, body []byte, signed bool) {
		ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
		sign := Sign(ts, "s")
		if !signed {
			sign = Sign(ts, "not-the-secret")
		}
		req, _ := http.NewRequest(http.MethodPost, web.URL+"/dingtalk/webhook", bytes.NewReader(body))
		req.Header.Set("timestamp", ts)
		req.Header.Set("sign", sign)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			var out outbound
			if err := json.Unmarshal(raw, &out); err != nil || (out.MsgType != "markdown" && out.MsgType != "empty") {
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
