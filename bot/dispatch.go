package bot

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/armsbot/armsbot/commands"
)

// Claimer de-duplicates deliveries of one message across replicas.
type Claimer interface {
	Claim(ctx context.Context, msgID string) (bool, error)
	Finish(ctx context.Context, msgID string) error
	Release(ctx context.Context, msgID string) error
}

// dispatcher takes a verified, decoded message through de-duplication and
// the command runner, and gets the reply out. The webhook and the shell
// share it.
type dispatcher struct {
	claims     Claimer
	runner     *commands.Runner
	sender     *sessionSender
	log        *slog.Logger
	budget     time.Duration // how long the webhook waits before answering "empty"
	cmdTimeout time.Duration // how long a command may run in all
	inflight   sync.WaitGroup
}

// result is what the webhook answers with.
type result struct {
	body    outbound
	outcome string
}

// dispatch handles m. When the command finishes within the budget, its reply
// is returned for the HTTP response; otherwise the response is "empty" and
// the reply is posted to the sessionWebhook when ready.
func (d *dispatcher) dispatch(ctx context.Context, m *inbound) result {
	log := d.log.With("msg_id", m.MsgID, "sender", m.userID(), "conversation", m.ConversationID)
	fresh, err := d.claims.Claim(ctx, m.MsgID)
	if err != nil {
		rep := d.runner.Unavailable(err)
		log.Error("message handled", "outcome", rep.Outcome, "err", err)
		return result{body: markdownReply(rep.Title, rep.Text, m.SenderStaffID), outcome: rep.Outcome}
	}
	if !fresh {
		log.Info("message handled", "outcome", "duplicate")
		return result{body: emptyReply, outcome: "duplicate"}
	}

	done := make(chan commands.Reply, 1)
	d.inflight.Add(1)
	// The command outlives the HTTP request when it is slow, so it gets its
	// own deadline rather than the request's.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cmdTimeout)
	go func() {
		defer d.inflight.Done()
		defer cancel()
		rep := d.run(cctx, m)
		d.settle(cctx, log, m, rep)
		done <- rep
	}()

	t := time.NewTimer(d.budget)
	defer t.Stop()
	select {
	case rep := <-done:
		return result{body: markdownReply(rep.Title, rep.Text, m.SenderStaffID), outcome: rep.Outcome}
	case <-t.C:
		d.inflight.Add(1)
		go d.deliverLater(log, m, done)
		return result{body: emptyReply, outcome: "async"}
	}
}

func (d *dispatcher) run(ctx context.Context, m *inbound) commands.Reply {
	if m.MsgType != "text" {
		return d.runner.TextOnly()
	}
	return d.runner.Handle(ctx, commands.Message{
		ID:             m.MsgID,
		SenderID:       m.userID(),
		SenderNick:     m.SenderNick,
		ConversationID: m.ConversationID,
		Group:          m.group(),
		Text:           CleanText(m.Text.Content),
		Mentions:       m.mentions(),
	})
}

// settle records the outcome: the claim is kept once a command ran, and
// given back when the state store failed before anything happened, so a
// re-delivery can retry.
func (d *dispatcher) settle(ctx context.Context, log *slog.Logger, m *inbound, rep commands.Reply) {
	var err error
	if rep.Outcome == string(commands.EUNAVAILABLE) {
		err = d.claims.Release(ctx, m.MsgID)
	} else {
		err = d.claims.Finish(ctx, m.MsgID)
	}
	attrs := []any{"command", rep.Command, "outcome", rep.Outcome}
	if rep.ContactID != "" {
		attrs = append(attrs, "contact_id", rep.ContactID)
	}
	if rep.RequestID != "" {
		attrs = append(attrs, "arms_request_id", rep.RequestID)
	}
	if rep.Err != nil {
		attrs = append(attrs, "err", commands.LogText(rep.Err))
	}
	if err != nil {
		attrs = append(attrs, "claim_err", err.Error())
	}
	level := slog.LevelInfo
	if rep.Outcome == string(commands.EINTERNAL) || rep.Outcome == string(commands.EUNAVAILABLE) {
		level = slog.LevelError
	}
	log.Log(ctx, level, "message handled", attrs...)
}

// deliverLater waits for a slow command and posts its reply.
// The caller has added it to d.inflight.
func (d *dispatcher) deliverLater(log *slog.Logger, m *inbound, done <-chan commands.Reply) {
	defer d.inflight.Done()
	rep := <-done
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := d.sender.send(ctx, m.SessionWebhook, markdownReply(rep.Title, rep.Text, m.SenderStaffID))
	switch {
	case errors.Is(err, errForbiddenWebhook):
		log.Error("reply not delivered: sessionWebhook not allowed", "err", err)
	case err != nil:
		log.Error("reply not delivered", "channel", "session", "err", err)
	default:
		log.Info("reply delivered", "channel", "session")
	}
}

// wait blocks until every in-flight command and delayed reply is done or
// ctx ends.
func (d *dispatcher) wait(ctx context.Context) error {
	ch := make(chan struct{})
	go func() { d.inflight.Wait(); close(ch) }()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runOnce handles m synchronously, for the shell: same claim, permission and
// command path as the webhook, with the reply returned instead of sent.
func (d *dispatcher) runOnce(ctx context.Context, m *inbound) commands.Reply {
	log := d.log.With("msg_id", m.MsgID, "sender", m.userID())
	fresh, err := d.claims.Claim(ctx, m.MsgID)
	if err != nil {
		return d.runner.Unavailable(err)
	}
	if !fresh {
		return commands.Reply{Outcome: "duplicate"}
	}
	cctx, cancel := context.WithTimeout(ctx, d.cmdTimeout)
	defer cancel()
	rep := d.run(cctx, m)
	d.settle(cctx, log, m, rep)
	return rep
}
