package bot_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/dingtalk/dingtalktest"
)

const cardTemplate = "tpl-armsbot-decisions.schema"

// clicker clicks a card's buttons the way one ingress delivers clicks,
// and returns DingTalk's view of the answer: its data and how long it
// took.
type clicker func(t *testing.T, h *harness, outTrackID, user, action string) (answer string, took time.Duration)

func clickOverStream(t *testing.T, h *harness, outTrackID, user, action string) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	id, err := h.session.ClickOverStream(outTrackID, user, action)
	if err != nil {
		t.Fatal(err)
	}
	ack := h.ackOf(id)
	return ack.Data, ack.At.Sub(start)
}

func clickOverHTTP(t *testing.T, h *harness, outTrackID, user, action string) (string, time.Duration) {
	t.Helper()
	code, body, took, err := h.session.ClickOverHTTP(context.Background(), outTrackID, user, action)
	if err != nil || code != 200 {
		t.Fatalf("click over HTTP: %d %v %s", code, err, body)
	}
	return string(body), took
}

// cardWorld starts two replicas with cards, over the stream or over HTTP,
// and the approval of group deletes.
func cardWorld(t *testing.T, ingress string) (a, b *harness, click clicker) {
	t.Helper()
	h := world(t)
	h.session.SetCardTemplate(cardTemplate)
	env := map[string]string{"DINGTALK_CARD_TEMPLATE_ID": cardTemplate, "BOT_APPROVAL": "group delete"}
	if ingress == "stream" {
		// Both ingresses: requests come over the stream, grants over the
		// webhook; with a stream, clicks come over it.
		env = streamEnv("BOT_INGRESS", "both", "DINGTALK_CARD_TEMPLATE_ID", cardTemplate, "BOT_APPROVAL", "group delete")
		a, b = h.launch(env), h.replica(env)
		waitFor(t, func() bool { return h.session.StreamConnections() == 2 })
		return a, b, clickOverStream
	}
	env["DINGTALK_CORP_ID"] = "dingcorp" // the stand-in's clicks come from it
	// DingTalk must know the bot's address before it starts: each
	// replica gets a port of its own, picked here.
	start := func(h *harness) *harness {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		env["BOT_LISTEN"], env["BOT_PUBLIC_URL"] = addr, "http://"+addr
		return h.launch(env)
	}
	a = start(h)
	b = start(&harness{t: t, arms: h.arms, redis: h.redis, session: h.session})
	return a, b, clickOverHTTP
}

// waitCard waits for the card of the message m and returns it.
func waitCard(t *testing.T, h *harness, m dingtalk.Message, cond func(dingtalktest.Card) bool) dingtalktest.Card {
	t.Helper()
	var c dingtalktest.Card
	waitFor(t, func() bool {
		var ok bool
		c, ok = h.session.CardOf(dingtalk.OutTrackID(m.MsgID))
		return ok && cond(c)
	})
	return c
}

// With cards, a group delete the policy holds shows as a card in the
// group; the requester's own click and a click without the scope change
// nothing and say why to the clicker only; a second holder of approve
// clicking 批准, delivered twice and to both replicas, deletes once while
// ARMS takes 5 s, each click answered at once; the card ends showing who
// approved and the result, and a click after its expiry says so.
func TestCardApprovalByASecondPerson(t *testing.T) {
	t.Parallel()
	for _, ingress := range []string{"stream", "http"} {
		t.Run(ingress, func(t *testing.T) {
			t.Parallel()
			a, b, click := cardWorld(t, ingress)
			for _, g := range []string{"/perm grant lead-1 group.write", "/perm grant lead-1 approve",
				"/perm grant approver-1 group.write", "/perm grant approver-1 approve", "/perm grant bystander-1 approve"} {
				contains(t, g, a.say(adminID, g).Markdown.Text, "Granted")
			}
			gid := group1(t, groupIDRE, a.say(adminID, "/group create name=SRE-cards").Markdown.Text, "ContactGroupId")

			req := a.message("lead-1", "/group delete "+gid)
			if ingress == "stream" {
				a.push(req)
			} else if code, r := a.post(req); code != 200 || r.MsgType != "empty" {
				t.Fatalf("the webhook answered %d %q: a card goes out on its own", code, r.MsgType)
			}
			card := waitCard(t, a, req, func(c dingtalktest.Card) bool { return true })
			if card.TemplateID != cardTemplate || card.OpenSpaceID != "dtv1.card//IM_GROUP."+req.ConversationID ||
				card.Data["kind"] != "approval" || card.Data["status"] != "pending" || !strings.Contains(card.Data["content"], "About to delete contact group **SRE-cards**") {
				t.Fatalf("card %+v", card)
			}
			if len(a.sessionReplies(req)) != 0 {
				t.Errorf("a text reply went out besides the card: %q", a.sessionReplies(req))
			}
			wantCallback := map[string]string{"stream": "STREAM", "http": "HTTP"}[ingress]
			if card.CallbackType != wantCallback {
				t.Errorf("callbackType %q, want %q", card.CallbackType, wantCallback)
			}

			if ingress == "http" {
				// Only DingTalk knows the route, and only the bot's
				// organisation's clicks are taken.
				forged := `{"type":"actionCallback","outTrackId":"` + card.OutTrackID + `","userId":"approver-1","corpId":"othercorp","content":"{\"cardPrivateData\":{\"params\":{\"action\":\"approve\"}}}"}`
				for path, want := range map[string]int{dingtalk.CardCallbackPath(appSecret): http.StatusForbidden, "/dingtalk/card/00": http.StatusNotFound} {
					resp, err := http.Post(a.base+path, "application/json", strings.NewReader(forged))
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if resp.StatusCode != want {
						t.Errorf("a forged click at %s: HTTP %d, want %d", path, resp.StatusCode, want)
					}
				}
			}
			// Refusals are the clicker's own notice; the card stays open.
			click(t, a, card.OutTrackID, "lead-1", "approve")
			card = waitCard(t, a, req, func(c dingtalktest.Card) bool { return c.Private["lead-1"]["notice"] != "" })
			contains(t, "the requester's click", card.Private["lead-1"]["notice"], "yourself")
			click(t, b, card.OutTrackID, "bystander-1", "approve")
			card = waitCard(t, a, req, func(c dingtalktest.Card) bool { return c.Private["bystander-1"]["notice"] != "" })
			contains(t, "a click without group.write", card.Private["bystander-1"]["notice"], "group.write")
			if card.Data["status"] != "pending" || len(a.arms.Groups()) != 1 {
				t.Fatalf("after refused clicks: status %q, %d groups", card.Data["status"], len(a.arms.Groups()))
			}

			a.arms.SetLatency(5 * time.Second)
			var slowest time.Duration
			for _, p := range []*harness{a, b, a} {
				_, took := click(t, p, card.OutTrackID, "approver-1", "approve")
				slowest = max(slowest, took)
			}
			t.Logf("slowest click answer: %s, while ARMS takes 5s", slowest)
			if slowest >= 2*time.Second {
				t.Errorf("a click was answered after %s; DingTalk waits 2 s", slowest)
			}
			card = waitCard(t, a, req, func(c dingtalktest.Card) bool { return c.Data["status"] == "done" })
			a.arms.SetLatency(0)
			contains(t, "the card's result", card.Data["result"], "approved by approver-1, as requested by Tester lead-1", "Deleted contact group **SRE-cards**")
			if n := len(a.arms.Calls("DeleteAlertContactGroup")); n != 1 || len(a.arms.Groups()) != 0 {
				t.Errorf("%d deletes, %d groups left, want 1 and 0", n, len(a.arms.Groups()))
			}

			// The audit trail: the request, and the approval by the clicker.
			waitFor(t, func() bool {
				entries, _ := a.store.Recent(context.Background(), 30, "")
				var request, approval bool
				for _, e := range entries {
					request = request || e.SenderID == "lead-1" && e.Command == "group delete" && e.Outcome == "held"
					approval = approval || e.SenderID == "approver-1" && e.Command == "approve" && e.Outcome == "ok" && e.RequestedBy == "lead-1"
				}
				return request && approval
			})

			// A card whose code expired says so.
			req2 := a.message("lead-1", "/group delete "+group1(t, groupIDRE, a.say(adminID, "/group create name=Later").Markdown.Text, "ContactGroupId"))
			if ingress == "stream" {
				a.push(req2)
			} else {
				a.post(req2)
			}
			card2 := waitCard(t, a, req2, func(dingtalktest.Card) bool { return true })
			rec, ok, err := a.store.Card(context.Background(), card2.OutTrackID)
			if !ok || err != nil {
				t.Fatalf("no record of the card: %v", err)
			}
			rec.Expires = time.Now().Add(-time.Second)
			if err := a.store.RememberCard(context.Background(), card2.OutTrackID, rec); err != nil {
				t.Fatal(err)
			}
			answer, _ := click(t, b, card2.OutTrackID, "approver-1", "approve")
			contains(t, "an expired card's answer", answer, `"status":"expired"`, "Expired")
			if len(a.arms.Groups()) != 1 {
				t.Error("an expired card's click deleted the group")
			}
		})
	}
}

// A delete's own confirmation as a card: its requester's 确认 deletes,
// someone else's click does not; without a template the text with its
// code is the reply, as it always was.
func TestCardConfirmationAndTextWithoutATemplate(t *testing.T) {
	t.Parallel()
	h := world(t)
	h.session.SetCardTemplate(cardTemplate)
	a := h.launch(streamEnv("BOT_INGRESS", "both", "DINGTALK_CARD_TEMPLATE_ID", cardTemplate))
	waitFor(t, func() bool { return h.session.StreamConnections() == 1 })
	a.say(adminID, "/perm grant other-1 group.write")
	gid := group1(t, groupIDRE, a.say(adminID, "/group create name=Conf").Markdown.Text, "ContactGroupId")
	req := a.message(adminID, "/group delete "+gid)
	a.push(req)
	card := waitCard(t, a, req, func(dingtalktest.Card) bool { return true })
	if card.Data["kind"] != "confirm" || !strings.Contains(card.Data["content"], "/confirm ") {
		t.Fatalf("card %+v", card)
	}
	clickOverStream(t, a, card.OutTrackID, "other-1", "confirm")
	card = waitCard(t, a, req, func(c dingtalktest.Card) bool { return c.Private["other-1"]["notice"] != "" })
	contains(t, "someone else's click", card.Private["other-1"]["notice"], "no pending action")
	clickOverStream(t, a, card.OutTrackID, adminID, "confirm")
	card = waitCard(t, a, req, func(c dingtalktest.Card) bool { return c.Data["status"] == "done" })
	contains(t, "result", card.Data["result"], "Deleted contact group **Conf**")

	// No template: the text reply, with its code.
	plain := startBot(t, nil)
	gid = group1(t, groupIDRE, plain.say(adminID, "/group create name=Plain").Markdown.Text, "ContactGroupId")
	r := plain.say(adminID, "/group delete "+gid)
	contains(t, "text confirmation", r.Markdown.Text, "/confirm ")
	if len(plain.session.Cards()) != 0 {
		t.Error("a card was sent without a template")
	}
}
