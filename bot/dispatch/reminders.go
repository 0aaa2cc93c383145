package dispatch

import (
	"bytes"
	"context"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/commands"
)

// Reminders of phones ARMS will not call: whoever gave a contact its phone
// is reminded, in the conversation where they did, once per
// BOT_VERIFY_REMIND while the phone stays unverified. They live in Redis:
// one replica sends each, and a restart keeps them.

// remindLater schedules the reminder a reply asks for, about the sender of
// t's message, one period from now.
func (d *Dispatcher) remindLater(t *ticket, rep commands.Reply) {
	if rep.VerifyPending == "" || rep.Outcome != "ok" || d.cfg.RemindEvery <= 0 || d.reminders == nil {
		return
	}
	body, err := t.m.Body()
	if err != nil {
		return
	}
	due := d.cfg.Now().Add(d.cfg.RemindEvery)
	d.persist(t, func(ctx context.Context) error { return d.reminders.Remind(ctx, rep.VerifyPending, body, due) })
}

// remindersPerRound bounds how many reminders one round sends.
const remindersPerRound = 50

// keepReminding sends the reminders that fall due, until ctx ends.
func (d *Dispatcher) keepReminding(ctx context.Context) {
	if d.cfg.RemindEvery <= 0 || d.reminders == nil {
		return
	}
	tick := time.NewTicker(min(max(d.cfg.RemindEvery/3, 250*time.Millisecond), time.Minute))
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

func (d *Dispatcher) sendDueReminders(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, stateTimeout)
	due, err := d.reminders.DueReminders(sctx, d.cfg.Now(), d.cfg.RemindEvery, remindersPerRound)
	cancel()
	if err != nil {
		d.log.Warn("verification reminders not read", "err", err.Error())
		return
	}
	for _, rem := range due {
		m, err := dingtalk.DecodeMessage(bytes.NewReader(rem.Message))
		if err != nil {
			d.log.Error("a verification reminder cannot be read; dropping it", "contact_id", rem.ContactID, "err", err.Error())
			d.forgetReminder(rem.ContactID)
			continue
		}
		t := d.newTicket(&m, viaRemind, "reminder")
		t.log = t.log.With("contact_id", rem.ContactID)
		d.inflight.Add(1)
		go func() {
			defer d.inflight.Done()
			d.sendReminder(t, rem.ContactID)
		}()
	}
}

// sendReminder reminds the sender of t's message that contactID's phone is
// still not verified, or ends the reminders when it no longer is to be
// reminded of.
func (d *Dispatcher) sendReminder(t *ticket, contactID string) {
	ctx, cancel := context.WithTimeout(d.run, d.cfg.CommandTimeout)
	defer cancel()
	m := t.m
	rep, remind, err := d.runner.Reminder(ctx, contactID, commands.Message{ID: m.MsgID, SenderID: m.UserID(), ConversationID: m.ConversationID, Private: m.OneToOne()})
	switch {
	case err != nil:
		d.hooks.Reminder("failed")
		t.log.Warn("verification reminder not sent: ARMS did not say whether the phone is verified; next period", "err", commands.LogText(err))
		return
	case !remind:
		d.hooks.Reminder("done")
		t.log.Info("phone verified (or contact gone): no more reminders")
		d.forgetReminder(contactID)
		return
	}
	d.send(&delivery{t: t, body: t.body(rep), done: func(ok bool) {
		if ok {
			d.hooks.Reminder("sent")
			return
		}
		d.hooks.Reminder("failed")
	}})
}

func (d *Dispatcher) forgetReminder(contactID string) {
	ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
	defer cancel()
	if err := d.reminders.ForgetReminder(ctx, contactID); err != nil {
		d.log.Warn("verification reminder not ended; it is looked at again next period", "contact_id", contactID, "err", err.Error())
	}
}
