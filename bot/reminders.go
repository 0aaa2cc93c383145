package bot

import (
	"bytes"
	"context"
	"log/slog"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/redisstore"
	"github.com/armsbot/armsbot/commands"
)

// Reminders of phones ARMS will not call: whoever gave a contact its phone
// is reminded, in the conversation where they did, once per
// BOT_VERIFY_REMIND while the phone stays unverified. They live in Redis:
// one replica sends each, and a restart keeps them.

// reminderStore keeps the reminders (bot/redisstore).
type reminderStore interface {
	Remind(ctx context.Context, contactID string, message []byte, due time.Time) error
	DueReminders(ctx context.Context, now time.Time, period time.Duration, max int) ([]redisstore.Reminder, error)
	ForgetReminder(ctx context.Context, contactID string) error
}

// remindLater schedules the reminder a reply asks for, about the sender of
// m, one period from now.
func (d *dispatcher) remindLater(log *slog.Logger, m *dingtalk.Message, rep commands.Reply) {
	if rep.VerifyPending == "" || rep.Outcome != "ok" || d.remindEvery <= 0 || d.reminders == nil {
		return
	}
	body, err := m.Body()
	if err != nil {
		return
	}
	due := d.now().Add(d.remindEvery)
	if err := d.persist(log, func(ctx context.Context) error { return d.reminders.Remind(ctx, rep.VerifyPending, body, due) }); err != nil {
		log.Warn("verification reminder not scheduled yet", "contact_id", rep.VerifyPending, "err", err.Error())
	}
}

// remindersPerRound bounds how many reminders one round sends.
const remindersPerRound = 50

// keepReminding sends the reminders that fall due, until ctx ends.
func (d *dispatcher) keepReminding(ctx context.Context) {
	if d.remindEvery <= 0 || d.reminders == nil {
		return
	}
	tick := time.NewTicker(min(max(d.remindEvery/3, 250*time.Millisecond), time.Minute))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !d.draining.Load() {
			d.sendDueReminders(ctx)
		}
	}
}

func (d *dispatcher) sendDueReminders(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, stateTimeout)
	due, err := d.reminders.DueReminders(sctx, d.now(), d.remindEvery, remindersPerRound)
	cancel()
	if err != nil {
		d.log.Warn("verification reminders not read", "err", err.Error())
		return
	}
	for _, rem := range due {
		log := d.log.With("contact_id", rem.ContactID, "via", "reminder")
		m, err := dingtalk.DecodeMessage(bytes.NewReader(rem.Message))
		if err != nil {
			log.Error("a verification reminder cannot be read; dropping it", "err", err.Error())
			d.forgetReminder(log, rem.ContactID)
			continue
		}
		d.inflight.Add(1)
		go func() {
			defer d.inflight.Done()
			d.sendReminder(log, &m, rem.ContactID)
		}()
	}
}

// sendReminder reminds the sender of m that contactID's phone is still not
// verified, or ends the reminders when it no longer is to be reminded of.
func (d *dispatcher) sendReminder(log *slog.Logger, m *dingtalk.Message, contactID string) {
	ctx, cancel := context.WithTimeout(d.run, d.cmdTimeout)
	defer cancel()
	rep, remind, err := d.runner.Reminder(ctx, contactID, commands.Message{ID: m.MsgID, SenderID: m.UserID(), ConversationID: m.ConversationID, Private: m.OneToOne()})
	switch {
	case err != nil:
		d.metrics.reminders.WithLabelValues("failed").Inc()
		log.Warn("verification reminder not sent: ARMS did not say whether the phone is verified; next period", "err", commands.LogText(err))
		return
	case !remind:
		d.metrics.reminders.WithLabelValues("done").Inc()
		log.Info("phone verified (or contact gone): no more reminders")
		d.forgetReminder(log, contactID)
		return
	}
	if d.deliverLater(log, m, replyBody(rep, m)) {
		d.metrics.reminders.WithLabelValues("sent").Inc()
		return
	}
	d.metrics.reminders.WithLabelValues("failed").Inc()
}

func (d *dispatcher) forgetReminder(log *slog.Logger, contactID string) {
	ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
	defer cancel()
	if err := d.reminders.ForgetReminder(ctx, contactID); err != nil {
		log.Warn("verification reminder not ended; it is looked at again next period", "err", err.Error())
	}
}
