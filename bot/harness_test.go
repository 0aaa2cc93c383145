package bot_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/armsbot/armsbot/arms/armstest"
	"github.com/armsbot/armsbot/bot"
	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/dingtalk/dingtalktest"
	"github.com/armsbot/armsbot/bot/redisstore"
	"github.com/armsbot/armsbot/bot/redisstore/redistest"
)

const (
	appKey    = "test-app-key"
	appSecret = "test-app-secret"
	adminID   = "admin-0001"
	botUserID = "$:LWCP_v1:$botbotbot"
)

// harness runs the whole bot in-process through bot.Run, with the ARMS
// stand-in, a Redis, and a local sessionWebhook receiver.
type harness struct {
	t       *testing.T
	base    string
	arms    *armstest.Server
	redis   *redistest.Redis
	store   *redisstore.Store
	session *dingtalktest.Server
	logs    *syncBuffer
	stop    func() error
	proc    *process // when the bot runs as its own binary
}

// startBot starts the bot with test defaults overridden by env.
func startBot(t *testing.T, env map[string]string) *harness {
	t.Helper()
	return world(t).launch(env)
}

// world is a Redis, an ARMS stand-in and a DingTalk stand-in, without a
// bot yet: launch or spawn them into it.
func world(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, arms: armstest.NewServer(), redis: redistest.New(t), session: newDingTalk(t)}
	t.Cleanup(h.arms.Close)
	return h
}

// replica starts another bot process sharing h's Redis, ARMS and
// sessionWebhook receiver, as a second replica behind a load balancer.
func (h *harness) replica(env map[string]string) *harness {
	h.t.Helper()
	r := &harness{t: h.t, arms: h.arms, redis: h.redis, session: h.session}
	return r.launch(env)
}

// vars are the settings of a bot process in h's world, overridden by env.
func (h *harness) vars(env map[string]string) map[string]string {
	h.t.Helper()
	h.base = ""
	vars := map[string]string{
		"BOT_LISTEN":                        "127.0.0.1:0", // the harness reads the port from the log
		"DINGTALK_APP_SECRET":               appSecret,
		"REDIS_URL":                         h.redis.URL,
		"BOT_REDIS_PREFIX":                  h.redis.Prefix,
		"BOT_REDIS_EPHEMERAL":               "true", // CI's Redis keeps nothing
		"ALIBABA_CLOUD_ACCESS_KEY_ID":       armstest.AccessKeyID,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET":   armstest.AccessKeySecret,
		"ARMS_ENDPOINT":                     h.arms.URL,
		"BOT_ADMINS":                        adminID,
		"BOT_LANG":                          "en",
		"DINGTALK_SESSION_WEBHOOK_PREFIXES": h.session.SessionPrefix(),
		"DINGTALK_OPENAPI_BASE":             h.session.URL,
		"DINGTALK_OAPI_BASE":                h.session.URL,
		"DINGTALK_APP_KEY":                  appKey,
		// A reply the test expects in the HTTP answer gets it even when
		// the machine is loaded (tests run side by side, with -race).
		// Tests of late replies set their own budget.
		"BOT_SYNC_REPLY_BUDGET": "15s",
	}
	for k, v := range env {
		vars[k] = v
	}
	h.logs = &syncBuffer{}
	h.store = redisstore.New(h.redis.Client, redisstore.Options{Prefix: h.redis.Prefix, ClaimTTL: redisstore.MinClaimTTL})
	return vars
}

// launch runs a bot in this test's process.
func (h *harness) launch(env map[string]string) *harness {
	t := h.t
	t.Helper()
	vars := h.vars(env)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- bot.Run(ctx, []string{"bot", "serve"}, func(k string) string { return vars[k] }, nil, io.Discard, h.logs)
	}()
	var once sync.Once
	var runErr error
	h.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				t.Errorf("bot did not stop within 30s")
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = h.stop() })
	h.waitHealthy(done)
	return h
}

// listeningRE finds the address the bot says it listens on.
var listeningRE = regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)

// waitHealthy waits until the bot says where it listens and answers
// there.
func (h *harness) waitHealthy(done chan error) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			h.t.Fatalf("bot exited at start: %v\nlogs:\n%s", err, h.logs)
		default:
		}
		if h.base == "" {
			if m := listeningRE.FindStringSubmatch(h.logs.String()); m != nil {
				h.base = "http://" + m[1]
			} else {
				time.Sleep(10 * time.Millisecond) // waiting for the log line, not timing behaviour
				continue
			}
		}
		resp, err := http.Get(h.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(10 * time.Millisecond) // waiting for a listener, not timing behaviour
	}
	h.t.Fatalf("bot not healthy after 10s\nlogs:\n%s", h.logs)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func randomID(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// message is a real-shaped group message, as in DingTalk's sample.
func (h *harness) message(sender, text string) dingtalk.Message {
	now := time.Now()
	m := dingtalk.NewTextMessage(randomID("msg"), sender, text, now)
	m.ConversationID, m.ConversationTitle = "cidTestGroup==", "SRE"
	m.AtUsers = []dingtalk.AtUser{{DingtalkID: botUserID}}
	m.ChatbotCorpID, m.ChatbotUserID, m.SenderCorpID, m.RobotCode = "dingcorp", botUserID, "dingcorp", "dingrobot"
	m.SenderNick = "Tester " + sender
	m.SessionWebhook = h.session.SessionURL(randomID("sess-"))
	m.SessionWebhookExpiredTime = dingtalk.MillisOf(now.Add(90 * time.Minute))
	return m
}

// reply is the part of a DingTalk reply body the tests look at.
type reply struct {
	MsgType  string
	Markdown dingtalk.Markdown
	At       dingtalk.At
}

// post signs m with the current time and delivers it.
func (h *harness) post(m dingtalk.Message) (int, reply) {
	h.t.Helper()
	return h.postSigned(h.body(m), time.Now(), appSecret)
}

func (h *harness) body(m dingtalk.Message) []byte {
	h.t.Helper()
	b, err := m.Body()
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

// postSigned delivers raw as DingTalk would at the time at, signed with secret.
func (h *harness) postSigned(raw []byte, at time.Time, secret string) (int, reply) {
	h.t.Helper()
	req, err := dingtalk.NewCallbackRequest(context.Background(), h.base+"/dingtalk/webhook", secret, at, raw)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.do(req)
}

// postUnsigned delivers raw without signature headers.
func (h *harness) postUnsigned(raw []byte) (int, reply) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.base+"/dingtalk/webhook", bytes.NewReader(raw))
	if err != nil {
		h.t.Fatal(err)
	}
	return h.do(req)
}

// tryPost delivers m, reporting a connection error instead of failing.
func (h *harness) tryPost(m dingtalk.Message) (int, reply, error) {
	h.t.Helper()
	req, err := dingtalk.NewCallbackRequest(context.Background(), h.base+"/dingtalk/webhook", appSecret, time.Now(), h.body(m))
	if err != nil {
		h.t.Fatal(err)
	}
	return h.send(req)
}

func (h *harness) do(req *http.Request) (int, reply) {
	h.t.Helper()
	code, r, err := h.send(req)
	if err != nil {
		h.t.Fatalf("post webhook: %v", err)
	}
	return code, r
}

func (h *harness) send(req *http.Request) (int, reply, error) {
	h.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, reply{}, err
	}
	defer resp.Body.Close()
	var r reply
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		d, err := dingtalk.DecodeReply(b)
		if err != nil {
			h.t.Fatalf("reply is not JSON: %v: %s", err, b)
		}
		r.MsgType = d.MsgType
		if d.Markdown != nil {
			r.Markdown = *d.Markdown
		}
		if d.At != nil {
			r.At = *d.At
		}
	}
	return resp.StatusCode, r, nil
}

// say posts text from sender and returns the synchronous reply.
func (h *harness) say(sender, text string) reply {
	h.t.Helper()
	return h.answer(h.message(sender, text))
}

// answer posts m and returns its reply: in the HTTP answer, or, when the
// command outlasted BOT_SYNC_REPLY_BUDGET (a loaded machine, a short
// budget), on the sessionWebhook, as the sender would see it.
func (h *harness) answer(m dingtalk.Message) reply {
	h.t.Helper()
	code, r := h.post(m)
	if code != http.StatusOK {
		h.t.Fatalf("webhook answered %d to %q", code, m.Text.Content)
	}
	if r.MsgType == "empty" {
		waitFor(h.t, func() bool { return len(h.sessionReplies(m)) > 0 })
		return reply{MsgType: "markdown", Markdown: dingtalk.Markdown{Text: h.sessionReplies(m)[0]}}
	}
	if r.MsgType != "markdown" {
		h.t.Fatalf("reply to %q has msgtype %q, want markdown", m.Text.Content, r.MsgType)
	}
	return r
}

// family is one of ARMS's contact API families, as the tests run the bot
// against it.
type family struct {
	name string // as ARMS_CONTACT_API says it
	// The names of its actions.
	create, search, createGroup, updateGroup string
}

var (
	legacy = family{name: "legacy", create: "CreateAlertContact", search: "SearchAlertContact",
		createGroup: "CreateAlertContactGroup", updateGroup: "UpdateAlertContactGroup"}
	alertManagement = family{name: "alert-management", create: "CreateOrUpdateContact", search: "DescribeContacts",
		createGroup: "CreateOrUpdateContactGroup", updateGroup: "CreateOrUpdateContactGroup"}
)

// families runs test once in each contact family, the two at once: each
// makes a world of its own.
func families(t *testing.T, test func(t *testing.T, f family)) {
	for _, f := range []family{legacy, alertManagement} {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			test(t, f)
		})
	}
}

// with is the family's settings with env on top.
func (f family) with(env map[string]string) map[string]string {
	out := map[string]string{"ARMS_CONTACT_API": f.name}
	for k, v := range env {
		out[k] = v
	}
	return out
}

// creates are the contact creates ARMS received, in either family.
func (h *harness) creates() []armstest.Call {
	out := h.arms.Calls("CreateAlertContact")
	for _, c := range h.arms.Calls("CreateOrUpdateContact") {
		if c.Params.Get("ContactId") == "" {
			out = append(out, c)
		}
	}
	return out
}

// updates are the contact updates ARMS received, in either family.
func (h *harness) updates() []armstest.Call {
	out := h.arms.Calls("UpdateAlertContact")
	for _, c := range h.arms.Calls("CreateOrUpdateContact") {
		if c.Params.Get("ContactId") != "" {
			out = append(out, c)
		}
	}
	return out
}

// deletes are the contact deletes ARMS received, in either family.
func (h *harness) deletes() []armstest.Call {
	return append(h.arms.Calls("DeleteAlertContact"), h.arms.Calls("DeleteContact")...)
}

// groupWrites are the group creates and updates ARMS received.
func (h *harness) groupWrites() []armstest.Call {
	return append(h.arms.Calls("CreateAlertContactGroup"), append(h.arms.Calls("UpdateAlertContactGroup"), h.arms.Calls("CreateOrUpdateContactGroup")...)...)
}

// createsOf counts the creates of a contact with this email.
func (h *harness) createsOf(email string) int {
	n := 0
	for _, c := range h.creates() {
		if c.Params.Get("Email") == email {
			n++
		}
	}
	return n
}

// syncBuffer collects log output written from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func contains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}

func lacks(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			t.Errorf("%s contains %q but must not:\n%s", what, sub, s)
		}
	}
}

// armsSecretForLogs is what must never show up in logs or replies.
const armsSecretForLogs = armstest.AccessKeySecret

// newDingTalk starts the stand-in for DingTalk's reply endpoints.
func newDingTalk(t *testing.T) *dingtalktest.Server {
	s := dingtalktest.NewServer(appKey, appSecret)
	t.Cleanup(s.Close)
	return s
}
