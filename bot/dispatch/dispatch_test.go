package dispatch_test

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/armsbot/armsbot/arms"
	"github.com/armsbot/armsbot/arms/armstest"
	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/dingtalk/dingtalktest"
	"github.com/armsbot/armsbot/bot/dispatch"
	"github.com/armsbot/armsbot/bot/redisstore"
	"github.com/armsbot/armsbot/bot/redisstore/redistest"
	"github.com/armsbot/armsbot/commands"
	"github.com/armsbot/armsbot/commands/catalog"
)

// The dispatcher against real parts: a Redis (redistest), the ARMS
// stand-in through the real SDK, and DingTalk's stand-in for replies.

const boss = "boss"

// rig is one dispatcher in a world of its own, or sharing another's.
type rig struct {
	t      *testing.T
	d      *dispatch.Dispatcher
	ledger *redisstore.Ledger
	store  *redisstore.Store
	redis  *redistest.Redis
	arms   *armstest.Server
	dt     *dingtalktest.Server
	door   *dingtalktest.Door
	logs   *syncBuffer
	// delivered counts the replies that went out, by channel and outcome.
	mu        sync.Mutex
	delivered map[string]int
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

// newRig starts a dispatcher with cfg (small lanes, quick retries unless
// set) in a world of its own.
func newRig(t *testing.T, cfg dispatch.Config) *rig {
	t.Helper()
	return newRigWith(t, cfg, nil)
}

// newRigWith is newRig with contacts in place of the ARMS client.
func newRigWith(t *testing.T, cfg dispatch.Config, contacts commands.Contacts) *rig {
	t.Helper()
	r := &rig{t: t, redis: redistest.New(t), arms: armstest.NewServer(), dt: dingtalktest.NewServer("key", "secret")}
	t.Cleanup(r.arms.Close)
	t.Cleanup(r.dt.Close)
	door, err := r.dt.OpenDoor()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(door.Shut)
	r.door = door
	return r.start(cfg, contacts)
}

// sibling starts another dispatcher (another replica) in r's world.
func (r *rig) sibling(cfg dispatch.Config) *rig {
	s := &rig{t: r.t, redis: r.redis, arms: r.arms, dt: r.dt, door: r.door}
	return s.start(cfg, nil)
}

func (r *rig) start(cfg dispatch.Config, contacts commands.Contacts) *rig {
	t := r.t
	t.Helper()
	r.logs = &syncBuffer{}
	r.delivered = map[string]int{}
	log := slog.New(slog.NewJSONHandler(r.logs, nil))
	r.store = redisstore.New(r.redis.Client, redisstore.Options{Prefix: r.redis.Prefix, ClaimTTL: redisstore.MinClaimTTL})
	r.ledger = redisstore.NewLedger(r.store, redisstore.LedgerOptions{Process: t.Name() + "-" + time.Now().Format("150405.000000000"), Lease: 3 * time.Second, WriteWindow: 5 * time.Second, Log: log})
	if contacts == nil {
		client, err := arms.New(arms.Config{Endpoint: r.arms.URL, AccessKeyID: armstest.AccessKeyID, AccessKeySecret: armstest.AccessKeySecret, Region: "cn-hangzhou", Timeout: 5 * time.Second, Clients: 4}, log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(client.Close)
		contacts = client
	}
	runner := commands.NewRunner(commands.Settings{Lang: catalog.EN, Admins: []string{boss}},
		commands.Ports{Permissions: r.store, Confirmations: r.store, Audit: r.store, Contacts: contacts}, log)
	if cfg.RetryBase == 0 {
		cfg.RetryBase = 50 * time.Millisecond
	}
	if cfg.Lease == 0 {
		cfg.Lease = 3 * time.Second
	}
	httpClient := &http.Client{Timeout: 15 * time.Second}
	r.d = dispatch.New(cfg, dispatch.Deps{
		Ledger: r.ledger, Audit: r.store, Runner: runner, Log: log,
		Session: dingtalk.NewSessionClient(httpClient, []string{r.dt.SessionPrefix(), r.door.Prefix()}),
		OpenAPI: dingtalk.NewOpenAPI(r.dt.URL, "key", "secret", "robot", httpClient, time.Now),
		Hooks: dispatch.Hooks{Delivery: func(channel, outcome string) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.delivered[channel+" "+outcome]++
		}},
	})
	t.Cleanup(r.d.Stop)
	r.d.Start()
	return r
}

// deliveries counts the replies that ended with channel and outcome.
func (r *rig) deliveries(channelOutcome string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.delivered[channelOutcome]
}

// message is a group message from sender whose sessionWebhook is the
// door's.
func (r *rig) message(sender, text string) *dingtalk.Message {
	now := time.Now()
	m := dingtalk.NewTextMessage(newID("msg"), sender, text, now)
	m.ConversationID = "cid-ops"
	m.SessionWebhook = r.door.SessionURL(newID("sess"))
	m.SessionWebhookExpiredTime = dingtalk.MillisOf(now.Add(90 * time.Minute))
	return &m
}

// replies are the posts that showed in m's conversation.
func (r *rig) replies(m *dingtalk.Message) []string {
	var out []string
	for _, got := range r.dt.Messages() {
		if got.Session != "" && strings.HasSuffix(m.SessionWebhook, "="+got.Session) {
			out = append(out, got.Text)
		}
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, not timing behaviour
	}
}

var ids struct {
	mu sync.Mutex
	n  int
}

func newID(prefix string) string {
	ids.mu.Lock()
	defer ids.mu.Unlock()
	ids.n++
	return prefix + "-" + time.Now().Format("150405.000000") + "-" + strconv.Itoa(ids.n)
}
