package dispatch

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/logctx"
	"github.com/armsbot/armsbot/commands"
	"github.com/armsbot/armsbot/commands/spreadsheet"
)

// The command lane: a fixed set of workers take claimed messages, oldest
// first. Queue of them wait in memory; beyond that they wait counted in
// the backlog, shared by all replicas, so that the wait has a bound. Every
// one is claimed in Redis while it waits, so a process that dies leaves
// it to another replica's sweep, and one that drains hands it over.

type commandLane struct {
	mu         sync.Mutex
	more       *sync.Cond
	waiting    tickets
	backlogged int
	queue      int
	idle       int // workers waiting for a ticket
	wakeups    int // idle workers signalled, not yet awake: their tickets wait for no one
	seq        uint64
	closed     bool
}

func newCommandLane(queue int) *commandLane {
	l := &commandLane{queue: queue}
	l.more = sync.NewCond(&l.mu)
	return l
}

// tickets is a heap, oldest first.
type tickets []*ticket

func (h tickets) Len() int { return len(h) }
func (h tickets) Less(i, j int) bool {
	if !h[i].arrived.Equal(h[j].arrived) {
		return h[i].arrived.Before(h[j].arrived)
	}
	return h[i].seq < h[j].seq
}
func (h tickets) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].index = i; h[j].index = j }
func (h *tickets) Push(x any)   { t := x.(*ticket); t.index = len(*h); *h = append(*h, t) }
func (h *tickets) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return t
}

// add queues t unless the lane is closed.
func (l *commandLane) add(t *ticket) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.seq++
	t.seq = l.seq
	heap.Push(&l.waiting, t)
	if t.backlogged {
		l.backlogged++
	}
	if l.idle > 0 {
		l.idle--
		l.wakeups++
		l.more.Signal()
	}
	return true
}

// roomInMemory reports whether a ticket may wait without the backlog: a
// worker is idle, or the queue has room.
func (l *commandLane) roomInMemory() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.waiting)-l.wakeups < l.queue+l.idle
}

// next waits for the oldest ticket; nil once the lane is closed.
func (l *commandLane) next() *ticket {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.waiting) == 0 && !l.closed {
		l.idle++
		l.more.Wait()
		if !l.closed {
			l.wakeups--
		}
	}
	if l.closed {
		return nil
	}
	t := heap.Pop(&l.waiting).(*ticket)
	if t.backlogged {
		l.backlogged--
	}
	return t
}

func (l *commandLane) depth() (waiting, backlogged int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.waiting), l.backlogged
}

// close ends the workers; what waits stays claimed, for the hand-over.
func (l *commandLane) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.more.Broadcast()
}

// enqueue puts t on the command lane, in memory or in the backlog, or
// reports false when neither has room.
func (d *Dispatcher) enqueue(t *ticket) bool {
	if !d.commands.roomInMemory() {
		ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
		ok, err := d.ledger.EnterBacklog(ctx, t.claim.ID(), d.cfg.Backlog, d.cfg.ReplyTimeout+d.cfg.Lease)
		cancel()
		if err != nil {
			t.log.Warn("the backlog could not be counted; the message is not queued", "err", err.Error())
		}
		if !ok {
			return false
		}
		t.backlogged = true
		t.log.Info("every worker busy and the queue full: the message waits in the backlog")
	}
	d.inflight.Add(1)
	if !d.commands.add(t) {
		d.inflight.Done()
		return false
	}
	return true
}

func (d *Dispatcher) commandWorker() {
	for t := d.commands.next(); t != nil; t = d.commands.next() {
		d.runTicket(t)
	}
}

// runTicket runs a ticket a worker took, unless the process is handing its
// messages over, or it waited longer than the reply timeout.
func (d *Dispatcher) runTicket(t *ticket) {
	defer d.inflight.Done()
	if t.backlogged {
		ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
		if err := d.ledger.LeaveBacklog(ctx, t.claim.ID()); err != nil {
			t.log.Warn("could not take the message off the backlog; it ages out", "err", err.Error())
		}
		cancel()
	}
	if d.draining.Load() {
		return // handed over with the rest
	}
	if waited := d.cfg.Now().Sub(t.arrived); waited > d.cfg.ReplyTimeout {
		t.log.Warn("message not run: it waited too long for a worker", "waited", waited.Round(time.Second).String())
		d.notify(t, d.busy(t).body)
		return
	}
	if r, ok := d.execute(t); ok {
		t.then(r)
	}
}

// execute runs the command, or returns the reply an earlier owner had
// ready. ok is false when another process owns the message now.
func (d *Dispatcher) execute(t *ticket) (result, bool) {
	if body := t.claim.Reply(); body != nil {
		return result{body: body, carried: true}, true
	}
	ctx, cancel := context.WithTimeout(d.run, d.cfg.CommandTimeout)
	defer cancel()
	backoff := d.cfg.RetryBase
	for {
		rep := d.runCommand(ctx, t)
		switch {
		case rep.Outcome == string(commands.ELOST):
			t.log.Info("another process owns the message now; it replies")
			return result{}, false
		case rep.Outcome != string(commands.EUNAVAILABLE) || d.draining.Load():
			return result{rep: rep, body: d.replyBody(t, rep)}, true
		}
		// Redis failed before anything was written to ARMS, and this
		// process still owns the message: it runs again when Redis
		// answers, rather than asking the sender to send it again.
		t.log.Warn("state store unavailable during the command; running it again shortly", "err", commands.LogText(rep.Err))
		if !sleep(ctx, backoff) {
			return result{rep: rep, body: t.body(rep)}, true
		}
		t.grants = nil // read them again
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (d *Dispatcher) runCommand(ctx context.Context, t *ticket) (rep commands.Reply) {
	m := t.m
	// A bug in one command must not take the process, and its replies to
	// everyone else, down with it: the sender gets an internal-error reply.
	defer func() {
		if p := recover(); p != nil {
			t.log.Error("command panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			rep = d.runner.Internal(fmt.Errorf("panic: %v", p), m.MsgID)
		}
	}()
	text := m.Command()
	if _, name, isFile := m.File(); isFile && d.files != nil {
		// A roster sent as a file: an import of its rows.
		var refusal *commands.Reply
		if text, refusal = d.fileImport(ctx, t, name); refusal != nil {
			return *refusal
		}
	} else if !m.IsText() {
		return d.runner.TextOnly()
	}
	start := time.Now()
	defer func() { d.hooks.CommandTime(rep.Command, time.Since(start)) }()
	ctx = logctx.With(ctx, slog.String("msg_id", m.MsgID))
	msg := commands.Message{
		ID:             m.MsgID,
		SenderID:       m.UserID(),
		SenderNick:     m.SenderNick,
		ConversationID: m.ConversationID,
		Private:        m.OneToOne(),
		Text:           text,
		Mentions:       m.Mentions(),
		Grants:         t.grants,
		Sent:           m.CreateAt.Time(),
		Read:           t.read,
	}
	msg.Progress = func(rep commands.Reply) {
		// A notice, not the reply: nothing records it, and the command's
		// one reply still ends it.
		d.notify(t, t.body(rep))
	}
	if lost := t.claim.DataLost(); !lost.IsZero() {
		// Redis lost its data after this message may have been handled.
		msg.MayHaveRun = m.CreateAt == 0 || msg.Sent.Before(lost)
	}
	return d.runner.Handle(ctx, msg, t.claim)
}

// finishLater records the result and puts its reply on the reply lane. A
// carried reply that the earlier owner may have posted already is not
// posted again.
func (d *Dispatcher) finishLater(t *ticket, r result) {
	if d.draining.Load() {
		return // handed over: the new owner replies
	}
	if r.carried && t.claim.MayHavePosted() {
		t.log.Warn("the earlier owner of the message may have posted its reply already; it is not posted again (DingTalk cannot be asked)")
		d.hooks.Delivery("session", "unknown")
		d.move(t, delivered, nil)
		return
	}
	if !r.carried && !d.settle(t, r, false) {
		return
	}
	if r.rep.Outcome == string(commands.EUNAVAILABLE) {
		d.notify(t, r.body) // released: nothing to record of it
		return
	}
	d.remindLater(t, r.rep)
	d.sendReply(t, r.body)
}

// MaxFileBytes bounds a file sent to the bot.
const MaxFileBytes = 1 << 20

// Files fetches the files senders send the robot (bot/dingtalk's OpenAPI).
type Files interface {
	DownloadFile(ctx context.Context, m *dingtalk.Message, limit int64) ([]byte, error)
}

// fileImport turns a file message into the import of its rows: fetched at
// once (its download code expires), read as CSV or XLSX. In a group,
// where DingTalk does not deliver files, or for a file the bot cannot
// read, the sender is told what to do instead.
func (d *Dispatcher) fileImport(ctx context.Context, t *ticket, name string) (string, *commands.Reply) {
	refuse := func(key string, args ...any) (string, *commands.Reply) {
		rep := d.runner.Refusal(key, args...)
		return "", &rep
	}
	if !t.m.OneToOne() {
		return refuse("import.file_in_group")
	}
	data, err := d.files.DownloadFile(ctx, t.m, MaxFileBytes)
	switch {
	case errors.Is(err, dingtalk.ErrFileExpired):
		t.log.Info("file import: the download code expired", "err", err.Error())
		return refuse("import.file_expired")
	case errors.Is(err, dingtalk.ErrFileTooLarge):
		return refuse("import.file_too_large", MaxFileBytes>>10)
	case err != nil:
		t.log.Warn("file import: the file could not be fetched", "err", err.Error())
		return refuse("import.file_unavailable")
	}
	rows, err := spreadsheet.ToCSV(name, data)
	switch {
	case errors.Is(err, spreadsheet.ErrFormat):
		return refuse("import.file_type", name)
	case err != nil:
		return refuse("import.file_bad", err.Error())
	}
	return "/contact import\n" + rows, nil
}
