package dispatch

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/commands/catalog"
)

// The reply lane: replies that did not go out with the HTTP answer are
// posted by workers of their own, so that a slow or failing reply
// endpoint never holds a command worker. A failed post is tried again
// later from a timer, never by a worker that waits; each destination (the
// sessionWebhook host, the OpenAPI) backs off on its own. A reply that is
// part of a message's record (its claim keeps it) survives the process:
// when the lane is full it is handed over for a sweep to post, and on a
// drain the hand-over takes it with the rest.

// delivery is one reply on its way.
type delivery struct {
	t    *ticket
	body []byte
	// record: the message's record keeps body; delivered or undeliverable
	// follows, and a hand-over keeps it. Otherwise it is a notice (busy,
	// rate-limited, a carried reply, a reminder) that nothing records.
	record bool
	// session: post to the sessionWebhook, else through the OpenAPI.
	session bool
	// textOnly: DingTalk refused the card this reply offered; its text
	// goes out instead.
	textOnly bool
	attempts int
	giveUpAt time.Time
	// done is told whether the reply went out (reminders count it).
	done func(ok bool)
}

func (dl *delivery) channel() string {
	if dl.t.m.CardTrack != "" {
		return "card"
	}
	if _, _, ok := dingtalk.OfferOf(dl.body); ok && !dl.textOnly {
		return "card"
	}
	if dl.session {
		return "session"
	}
	return "openapi"
}

// destination is where a post goes, for its backoff: the sessionWebhook's
// host, or the OpenAPI.
func (dl *delivery) destination() string {
	if dl.channel() == "card" {
		return "openapi"
	}
	if !dl.session {
		return "openapi"
	}
	if u, err := url.Parse(dl.t.m.SessionWebhook); err == nil {
		return "session " + u.Host
	}
	return "session"
}

type replyLane struct {
	queue chan *delivery
	// posts holds a read lock while a post and its record are under way:
	// a drain takes the write lock to wait for them.
	posts sync.RWMutex

	mu      sync.Mutex
	backoff map[string]*backoff // per destination
	timers  map[*delivery]*time.Timer
	closed  bool
}

// backoff is a destination's: no post before until; the next failure
// waits step more.
type backoff struct {
	until time.Time
	step  time.Duration
}

func newReplyLane(queue int) *replyLane {
	return &replyLane{queue: make(chan *delivery, queue), backoff: map[string]*backoff{}, timers: map[*delivery]*time.Timer{}}
}

func (l *replyLane) depth() (queued, retrying int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue), len(l.timers)
}

// sendReply posts the reply the message's record keeps.
func (d *Dispatcher) sendReply(t *ticket, body []byte) {
	d.send(&delivery{t: t, body: body, record: true})
}

// notify posts a notice that nothing records.
func (d *Dispatcher) notify(t *ticket, body []byte) {
	d.send(&delivery{t: t, body: body})
}

func (d *Dispatcher) send(dl *delivery) {
	dl.session = dl.t.m.SessionUsable(d.cfg.Now())
	dl.giveUpAt = d.cfg.Now().Add(d.cfg.ReplyTimeout)
	d.inflight.Add(1)
	d.offer(dl)
}

// offer queues dl, or, when the lane is full, leaves a recorded reply to
// the sweeps and drops a notice.
func (d *Dispatcher) offer(dl *delivery) {
	d.replies.mu.Lock()
	closed := d.replies.closed
	if !closed {
		select {
		case d.replies.queue <- dl:
			d.replies.mu.Unlock()
			return
		default:
		}
	}
	d.replies.mu.Unlock()
	switch {
	case closed || d.draining.Load():
		if !dl.record {
			dl.t.log.Error("notice not delivered: the process is stopping")
			d.hooks.Delivery(dl.channel(), "failed")
		}
		d.over(dl, false) // a recorded reply is handed over with the rest
	case dl.record:
		dl.t.log.Warn("the reply lane is full; the reply is handed over for a sweep to post")
		if dl.attempts > 0 {
			d.move(dl.t, notPosted, nil)
		}
		d.move(dl.t, handOver, nil)
		d.over(dl, false)
	default:
		// Nothing records a notice, so nobody else would send it: it goes
		// out now, off the lane (a busy sender must hear so), and a drain
		// waits for it like any reply in flight.
		dl.t.log.Warn("the reply lane is full; the notice goes out on its own")
		go func() { d.over(dl, d.postNow(dl.t, dl.body)) }()
	}
}

// over ends dl.
func (d *Dispatcher) over(dl *delivery, ok bool) {
	if dl.done != nil {
		dl.done(ok)
	}
	d.inflight.Done()
}

func (d *Dispatcher) replyWorker() {
	for dl := range d.replies.queue {
		d.deliver(dl)
	}
}

// deliver makes one attempt at dl, unless its destination backs off.
func (d *Dispatcher) deliver(dl *delivery) {
	if wait := d.replies.wait(dl.destination(), d.cfg.Now()); wait > 0 {
		d.retryLater(dl, wait)
		return
	}
	d.replies.posts.RLock()
	defer d.replies.posts.RUnlock()
	if d.draining.Load() && dl.record {
		d.over(dl, false) // handed over: the taker posts it
		return
	}
	if dl.record && dl.attempts == 0 && !d.move(dl.t, posting, nil) {
		d.over(dl, false) // another process owns the message now
		return
	}
	for {
		dl.attempts++
		err := d.post(context.Background(), dl)
		switch {
		case err == nil:
			d.replies.ok(dl.destination())
			d.hooks.Delivery(dl.channel(), "ok")
			dl.t.log.Info("reply delivered", "channel", dl.channel(), "attempts", dl.attempts)
			if dl.record {
				d.move(dl.t, delivered, nil)
			}
			d.over(dl, true)
		case dl.session && dingtalk.SessionExpired(err):
			dl.t.log.Info("sessionWebhook expired; falling back to the OpenAPI")
			dl.session = false
			continue
		case dingtalk.MayHaveArrived(err):
			// Sending it again could show it twice, and DingTalk offers no
			// way to ask whether it arrived: a missing reply is the lesser
			// harm.
			d.hooks.Delivery(dl.channel(), "unknown")
			dl.t.log.Warn("the reply went out and no answer came; it is not posted again", "channel", dl.channel(), "attempts", dl.attempts, "err", err.Error())
			if dl.record {
				d.move(dl.t, delivered, nil)
			}
			d.over(dl, true)
		case !retryable(err) || !d.cfg.Now().Before(dl.giveUpAt):
			d.hooks.Delivery(dl.channel(), "failed")
			dl.t.log.Error("reply not delivered"+because(err), "channel", dl.channel(), "attempts", dl.attempts, "err", err.Error())
			if dl.record {
				d.move(dl.t, undeliverable, nil)
			}
			d.over(dl, false)
		default:
			wait := d.replies.fail(dl.destination(), d.cfg.Now(), d.cfg.RetryBase)
			dl.t.log.Warn("reply not out yet; trying again", "channel", dl.channel(), "attempts", dl.attempts, "retry_in", wait.String(), "err", err.Error())
			if dl.record {
				d.move(dl.t, notPosted, nil) // a taker may post it
			}
			d.retryLater(dl, wait)
		}
		return
	}
}

// post makes one attempt to deliver dl's body: the answer to a card's
// click updates the card; a reply that offers a card shows it, or, when
// DingTalk refuses the card, goes out as text.
func (d *Dispatcher) post(ctx context.Context, dl *delivery) error {
	m := dl.t.m
	if m.CardTrack != "" {
		if d.cards == nil {
			return errNoCards
		}
		ctx, cancel := context.WithTimeout(ctx, dingtalk.PostTimeout)
		defer cancel()
		return d.updateCard(ctx, dl.t, dl.body)
	}
	if offer, text, ok := dingtalk.OfferOf(dl.body); ok {
		if d.cards != nil && !dl.textOnly {
			cctx, cancel := context.WithTimeout(ctx, dingtalk.PostTimeout)
			err := d.deliverCard(cctx, dl.t, offer)
			cancel()
			if err == nil || dingtalk.MayHaveArrived(err) || retryable(err) {
				return err
			}
			dl.t.log.Warn("card not delivered; the reply goes out as text", "err", err.Error())
			dl.textOnly = true
		}
		dl.body = text
	}
	if dl.session {
		return d.session.Send(ctx, m.SessionWebhook, dl.body)
	}
	if !d.openapi.Configured() {
		return errNoOpenAPI
	}
	title, text, err := dingtalk.ReplyContent(dl.body, m.SenderStaffID)
	if err != nil {
		return notMarkdown{err}
	}
	if m.SenderNick != "" {
		text += "\n\n— " + catalog.Inert(m.SenderNick) // it cannot @-mention: name the sender
	}
	ctx, cancel := context.WithTimeout(ctx, dingtalk.PostTimeout)
	defer cancel()
	return d.openapi.SendReply(ctx, m, title, text)
}

var errNoOpenAPI = errors.New("the sessionWebhook has expired and DINGTALK_APP_KEY is not set for the OpenAPI fallback")

// retryable reports whether a post that failed with err is worth trying
// again.
func retryable(err error) bool {
	var nm notMarkdown
	return !errors.Is(err, errNoOpenAPI) && !errors.As(err, &nm) && dingtalk.Retryable(err)
}

// because says why a reply will never go out, for the log line.
func because(err error) string {
	switch {
	case errors.Is(err, dingtalk.ErrForbiddenWebhook):
		return ": sessionWebhook not allowed"
	case errors.Is(err, errNoOpenAPI):
		return ": the sessionWebhook has expired and the OpenAPI is not configured"
	}
	return ""
}

// notMarkdown: a reply the OpenAPI cannot carry.
type notMarkdown struct{ error }

// postNow delivers body within a few seconds, off the lane and even while
// the process stops: the last word on a message nobody else will answer.
func (d *Dispatcher) postNow(t *ticket, body []byte) bool {
	dl := &delivery{t: t, body: body, session: t.m.SessionUsable(d.cfg.Now())}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	backoff := d.cfg.RetryBase
	for {
		err := d.post(ctx, dl)
		switch {
		case err == nil:
			d.hooks.Delivery(dl.channel(), "ok")
			return true
		case dl.session && dingtalk.SessionExpired(err):
			dl.session = false
			continue
		case !retryable(err) || !sleep(ctx, backoff):
			d.hooks.Delivery(dl.channel(), "failed")
			t.log.Error("reply not delivered"+because(err), "channel", dl.channel(), "err", err.Error())
			return false
		}
		backoff = min(2*backoff, time.Second)
	}
}

// retryLater puts dl back on the lane after wait.
func (d *Dispatcher) retryLater(dl *delivery, wait time.Duration) {
	l := d.replies
	l.mu.Lock()
	if l.closed || d.draining.Load() {
		l.mu.Unlock()
		d.over(dl, false) // a recorded reply is handed over with the rest
		return
	}
	l.timers[dl] = time.AfterFunc(wait, func() {
		l.mu.Lock()
		_, ok := l.timers[dl]
		delete(l.timers, dl)
		l.mu.Unlock()
		if !ok {
			d.over(dl, false) // drained as it fell due
			return
		}
		d.offer(dl)
	})
	l.mu.Unlock()
}

// wait is how long dest still backs off.
func (l *replyLane) wait(dest string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.backoff[dest]; b != nil {
		return b.until.Sub(now)
	}
	return 0
}

// fail backs dest off, doubling from base to 10s, and says for how long.
func (l *replyLane) fail(dest string, now time.Time, base time.Duration) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.backoff[dest]
	if b == nil {
		b = &backoff{step: base}
		l.backoff[dest] = b
	} else if now.After(b.until) {
		b.step = min(2*b.step, 10*time.Second)
	}
	if until := now.Add(b.step); until.After(b.until) {
		b.until = until
	}
	return b.until.Sub(now)
}

func (l *replyLane) ok(dest string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.backoff, dest)
}

// drain stops every retry (the hand-over takes recorded replies with the
// rest) and waits for the posts under way.
func (l *replyLane) drain(d *Dispatcher) {
	l.mu.Lock()
	pending := make([]*delivery, 0, len(l.timers))
	for dl, timer := range l.timers {
		if timer.Stop() {
			pending = append(pending, dl)
		}
		delete(l.timers, dl)
	}
	l.mu.Unlock()
	for _, dl := range pending {
		d.over(dl, false)
	}
	l.posts.Lock()
	defer l.posts.Unlock()
}

// close ends the reply workers; what is queued is dropped, recorded
// replies being the hand-over's.
func (l *replyLane) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		close(l.queue)
	}
}
