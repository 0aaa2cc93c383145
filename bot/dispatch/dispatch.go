// Package dispatch takes a verified DingTalk message from its arrival to
// its one reply. Every entry point (the webhook, the stream, the shell,
// the sweep of messages whose process died) makes a ticket that holds the
// message's context for its whole life; one admission decision says what
// a delivery may do; commands run on the command lane, replies go out on
// a lane of their own, so that a slow or failing reply endpoint never
// holds a command worker; and the message's record in Redis
// (bot/redisstore's Ledger) is moved on in one place.
package dispatch

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/redisstore"
	"github.com/armsbot/armsbot/commands"
)

// Ledger owns every message's record from admission to delivery
// (bot/redisstore's Ledger).
type Ledger interface {
	AdmitSpeculating(ctx context.Context, id, sender, rateKey string, payload []byte, spec *redisstore.Speculation) (redisstore.Admission, error)
	Renew(ctx context.Context) error
	Sweep(ctx context.Context) ([]*redisstore.Claim, error)
	HandOver(ctx context.Context) (int, error)
	Forgo(ctx context.Context, id string) error
	EnterBacklog(ctx context.Context, id string, limit int, stale time.Duration) (bool, error)
	LeaveBacklog(ctx context.Context, id string) error
}

// AuditLog appends to the audit trail what is not settled through a
// claim: copies of a message.
type AuditLog interface {
	Audit(ctx context.Context, e commands.AuditEntry) error
}

// Reminders keeps the reminders of unverified phones (bot/redisstore).
type Reminders interface {
	Remind(ctx context.Context, contactID string, message []byte, due time.Time) error
	DueReminders(ctx context.Context, now time.Time, period time.Duration, max int) ([]redisstore.Reminder, error)
	ForgetReminder(ctx context.Context, contactID string) error
}

// Config sizes the lanes and sets the clocks; zero values take defaults.
type Config struct {
	// Workers run commands; Queue commands wait for one in memory; beyond
	// that up to Backlog wait across all replicas (counted in Redis), and
	// only then is a sender told the bot is busy.
	Workers, Queue, Backlog int
	// ReplyWorkers post replies that did not go out with the HTTP answer;
	// ReplyQueue wait for one. Beyond that a reply is left to the sweeps.
	ReplyWorkers, ReplyQueue int
	// Budget is how long the webhook waits for a command before it answers
	// empty and the reply goes out later.
	Budget time.Duration
	// CommandTimeout bounds a command in all.
	CommandTimeout time.Duration
	// Lease is the ledger's: renewals and sweeps run thrice per lease.
	Lease time.Duration
	// ReplyTimeout is how long a reply is tried before it is given up, and
	// how long a message waits for a worker before it is not run.
	ReplyTimeout time.Duration
	// RetryBase is the first wait before a retry (doubling).
	RetryBase time.Duration
	// RatePerMin is the rate limit, for the reply that names it.
	RatePerMin int
	// RemindEvery is the period of phone verification reminders (0: off).
	RemindEvery time.Duration
	// Now is the clock.
	Now func() time.Time
}

func (c *Config) defaults() {
	c.Workers = max(c.Workers, 1)
	c.Queue = max(c.Queue, 0)
	c.ReplyWorkers = max(c.ReplyWorkers, 1)
	c.ReplyQueue = max(c.ReplyQueue, 1)
	if c.Budget <= 0 {
		c.Budget = 1500 * time.Millisecond
	}
	if c.CommandTimeout <= 0 {
		c.CommandTimeout = time.Minute
	}
	if c.Lease <= 0 {
		c.Lease = 15 * time.Second
	}
	if c.ReplyTimeout <= 0 {
		c.ReplyTimeout = 2 * time.Minute
	}
	if c.RetryBase <= 0 {
		c.RetryBase = 500 * time.Millisecond
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Deps are what the dispatcher works with.
type Deps struct {
	Ledger    Ledger
	Audit     AuditLog
	Runner    *commands.Runner
	Session   *dingtalk.SessionClient
	OpenAPI   *dingtalk.OpenAPI // for expired sessionWebhooks; may be unconfigured
	Reminders Reminders         // nil: no reminders
	Cards     *Cards            // nil: decisions are text only
	Files     Files             // nil: files get the text-only answer
	Log       *slog.Logger
	Hooks     Hooks
}

// Hooks are told what happens, for the metrics; nil ones are not called.
type Hooks struct {
	// Handled: a message ended with this command ("" when none was
	// recognised) and outcome.
	Handled func(command, outcome string)
	// CommandTime: a command ran for d.
	CommandTime func(command string, d time.Duration)
	// Delivery: a reply went out (ok), was given up (failed), or went out
	// with no answer, so that nobody knows (unknown), on a channel (session,
	// openapi).
	Delivery func(channel, outcome string)
	// Takeover: this process took over a message whose owner was gone,
	// found by a re-delivery or by the sweep (via).
	Takeover func(via string)
	// HandedOver: n unfinished messages were handed over on shutdown.
	HandedOver func(n int)
	// LeaseRenewal: this process's lease was renewed, or not.
	LeaseRenewal func(ok bool)
	// Reminder: a verification reminder was sent, is done with, or failed.
	Reminder func(outcome string)
}

func (h *Hooks) defaults() {
	if h.Handled == nil {
		h.Handled = func(string, string) {}
	}
	if h.CommandTime == nil {
		h.CommandTime = func(string, time.Duration) {}
	}
	if h.Delivery == nil {
		h.Delivery = func(string, string) {}
	}
	if h.Takeover == nil {
		h.Takeover = func(string) {}
	}
	if h.HandedOver == nil {
		h.HandedOver = func(int) {}
	}
	if h.LeaseRenewal == nil {
		h.LeaseRenewal = func(bool) {}
	}
	if h.Reminder == nil {
		h.Reminder = func(string) {}
	}
}

// Dispatcher takes messages from every entry point through admission, the
// command lane and the reply lane. It is safe for concurrent use.
type Dispatcher struct {
	cfg       Config
	ledger    Ledger
	audit     AuditLog
	runner    *commands.Runner
	session   *dingtalk.SessionClient
	openapi   *dingtalk.OpenAPI
	reminders Reminders
	cards     *Cards
	files     Files
	log       *slog.Logger
	hooks     Hooks

	// seen are the messages this process admitted, parked or told to send
	// again, lately: while Redis cannot be reached, a delivery of one of
	// them is a copy, whatever its age.
	seen *seenIDs
	// parked counts messages waiting for Redis to come back, at most
	// maxParked.
	parked    atomic.Int64
	maxParked int

	commands *commandLane
	replies  *replyLane

	// inflight counts tickets and replies not yet finished: Wait waits
	// for them.
	inflight sync.WaitGroup
	// run is cancelled when the process hands its work over on shutdown:
	// commands still going then stop, and settle nothing.
	run      context.Context
	stopRun  context.CancelFunc
	draining atomic.Bool

	keepers     sync.WaitGroup
	stopKeepers context.CancelFunc
	stopOnce    sync.Once
}

// stateTimeout bounds each step on the shared state, so that a Redis outage
// costs the webhook seconds, not minutes.
const stateTimeout = 3 * time.Second

// New starts the lanes' workers; Start starts the lease keeping and the
// reminders; Stop ends all of it.
func New(cfg Config, deps Deps) *Dispatcher {
	cfg.defaults()
	deps.Hooks.defaults()
	run, stopRun := context.WithCancel(context.Background())
	d := &Dispatcher{
		cfg: cfg, ledger: deps.Ledger, audit: deps.Audit, runner: deps.Runner, session: deps.Session, openapi: deps.OpenAPI,
		reminders: deps.Reminders, cards: deps.Cards, files: deps.Files, log: deps.Log, hooks: deps.Hooks,
		seen: newSeen(cfg.Now), maxParked: 4 * max(cfg.Queue, cfg.Workers),
		run: run, stopRun: stopRun, stopKeepers: func() {},
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.commands = newCommandLane(cfg.Queue)
	for range cfg.Workers {
		go d.commandWorker()
	}
	d.replies = newReplyLane(cfg.ReplyQueue)
	for range cfg.ReplyWorkers {
		go d.replyWorker()
	}
	return d
}

// Start renews this process's lease and sweeps for messages whose owner
// is gone, and sends the reminders that fall due, until Drain or Stop. The
// first renewal and sweep are done before it returns: the process owns its
// lease before it takes a message, and what a dead process left is taken
// up at once.
func (d *Dispatcher) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	d.stopKeepers = cancel
	d.renewAndSweep(ctx)
	d.keepers.Add(2)
	go func() { defer d.keepers.Done(); d.keepLeases(ctx) }()
	go func() { defer d.keepers.Done(); d.keepReminding(ctx) }()
}

// Wait blocks until every message taken and every reply queued is done,
// or ctx ends.
func (d *Dispatcher) Wait(ctx context.Context) error {
	ch := make(chan struct{})
	go func() { d.inflight.Wait(); close(ch) }()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Drain hands this process's unfinished messages over, on shutdown, after
// they had their time (Wait): the sweeps stop, no reply is posted anew,
// posts already on their way are waited for (a post cut short could show
// twice, once here and once from the taker), and everything still owned
// (running, waiting for a worker, its reply waiting for a retry) is handed
// over with what it intended and any reply: another replica, or the next
// start, finishes it and replies.
func (d *Dispatcher) Drain(ctx context.Context) {
	d.stopKeepers()
	d.keepers.Wait()
	d.draining.Store(true)
	d.replies.drain(d)
	n, err := d.ledger.HandOver(ctx)
	d.stopRun()
	if err != nil {
		d.log.Error("hand-over failed; the messages are taken over when this process's lease lapses", "err", err.Error())
		return
	}
	if n > 0 {
		d.hooks.HandedOver(n)
		d.log.Info("handed unfinished messages over to the other replicas", "messages", n)
	}
}

// Stop ends the workers and the keepers; what is unfinished stays with
// the ledger. It is idempotent.
func (d *Dispatcher) Stop() {
	d.stopOnce.Do(func() {
		d.stopKeepers()
		d.keepers.Wait()
		d.stopRun()
		d.commands.close()
		d.replies.close()
	})
}

// Stats are the lanes' depths, for the metrics.
type Stats struct {
	Waiting    int // commands waiting for a worker, in memory and in the backlog
	Queue      int // how many may wait in memory before the backlog counts them
	Backlogged int // of Waiting, those counted in the shared backlog
	Replies    int // replies waiting for a reply worker
	ReplyQueue int // how many may
	Retrying   int // replies waiting to be tried again
}

// Stats reports the lanes' depths now.
func (d *Dispatcher) Stats() Stats {
	waiting, backlogged := d.commands.depth()
	replies, retrying := d.replies.depth()
	return Stats{Waiting: waiting, Queue: d.cfg.Queue, Backlogged: backlogged, Replies: replies, ReplyQueue: d.cfg.ReplyQueue, Retrying: retrying}
}

// sleep waits d, or reports false when ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
