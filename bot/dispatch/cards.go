package dispatch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/redisstore"
	"github.com/armsbot/armsbot/commands"
	"github.com/armsbot/armsbot/commands/catalog"
)

// Decisions as interactive cards: a reply that asks for a decision (a
// delete's /confirm, a request's /approve) is shown as a card with two
// buttons when a template is configured. A click becomes a message of its
// own, from the clicker, that types the command the button stands for:
// admitted, de-duplicated across replicas, checked and run exactly like
// one typed, and answered by updating the card. Without a card (no
// template, or DingTalk refuses it) the text reply goes out as before.

// CardAPI is DingTalk's card OpenAPI (bot/dingtalk's OpenAPI).
type CardAPI interface {
	DeliverCard(ctx context.Context, templateID, outTrackID string, m *dingtalk.Message, data map[string]string, routeKey string) error
	UpdateCard(ctx context.Context, outTrackID string, data map[string]string, userID string, private map[string]string) error
}

// CardStore keeps card records (bot/redisstore).
type CardStore interface {
	RememberCard(ctx context.Context, outTrackID string, rec redisstore.CardRecord) error
	Card(ctx context.Context, outTrackID string) (redisstore.CardRecord, bool, error)
}

// Cards is how decisions are shown as cards.
type Cards struct {
	API        CardAPI
	Store      CardStore
	TemplateID string
	// RouteKey names the bot's registered HTTP callback route; "" when
	// clicks come over the stream.
	RouteKey string
}

// buttons are the commands a card's buttons type, by its kind.
var buttons = map[string]map[string]string{
	"confirm":  {"confirm": "/confirm ", "cancel": "/cancel "},
	"approval": {"approve": "/approve ", "reject": "/reject "},
}

// replyBody renders rep for t: with a card offer when it asks for a
// decision and cards are set up.
func (d *Dispatcher) replyBody(t *ticket, rep commands.Reply) []byte {
	dec := rep.Decision
	if d.cards == nil || dec == nil || t.m.CardTrack != "" {
		return t.body(rep)
	}
	return dingtalk.CardReply(rep.Title, rep.Text, t.m.SenderStaffID, dingtalk.CardOffer{
		OutTrackID: dingtalk.OutTrackID(t.m.MsgID), Kind: dec.Kind, Code: dec.Code, Requester: dec.Requester,
		Title: rep.Title, Text: rep.Text, Expires: dingtalk.MillisOf(dec.Expires),
	})
}

// deliverCard records the card and sends it to the message's conversation.
func (d *Dispatcher) deliverCard(ctx context.Context, t *ticket, o dingtalk.CardOffer) error {
	m := t.m
	rec := redisstore.CardRecord{Kind: o.Kind, Code: o.Code, Requester: o.Requester, ConversationID: m.ConversationID,
		ConversationType: m.ConversationType, RobotCode: m.RobotCode, Expires: o.Expires.Time()}
	if err := d.cards.Store.RememberCard(ctx, o.OutTrackID, rec); err != nil {
		return err
	}
	data := map[string]string{"title": o.Title, "content": o.Text, "kind": o.Kind, "code": o.Code, "status": "pending",
		"result": "", "expires": o.Expires.Time().In(chinaTime).Format("15:04")}
	return d.cards.API.DeliverCard(ctx, d.cards.TemplateID, o.OutTrackID, m, data, d.cards.RouteKey)
}

var chinaTime = time.FixedZone("UTC+8", 8*60*60)

// updateCard answers a click's message on its card: what was done shows
// to everyone, a refusal only to the clicker.
func (d *Dispatcher) updateCard(ctx context.Context, t *ticket, body []byte) error {
	title, text, err := dingtalk.ReplyContent(body, t.m.SenderStaffID)
	if err != nil {
		return notMarkdown{err}
	}
	var data map[string]string
	switch catalog.TitleOf(title) {
	case "ok":
		data = map[string]string{"status": "done", "result": text}
	case "cancelled":
		data = map[string]string{"status": "cancelled", "result": text}
	default:
		return d.cards.API.UpdateCard(ctx, t.m.CardTrack, nil, t.m.SenderStaffID, map[string]string{"notice": title + ": " + text})
	}
	return d.cards.API.UpdateCard(ctx, t.m.CardTrack, data, t.m.SenderStaffID, map[string]string{"notice": ""})
}

// Click takes a click on a card's button and answers at once: the
// command it stands for runs as a message of the clicker's, and its reply
// updates the card. A click delivered twice is one message.
func (d *Dispatcher) Click(ctx context.Context, c dingtalk.CardClick) dingtalk.CardAnswer {
	log := d.log.With("out_track_id", c.OutTrackID, "clicker", c.UserID, "action", c.Action)
	notice := func(key string) dingtalk.CardAnswer {
		return dingtalk.CardAnswer{Private: map[string]string{"notice": d.runner.Text(key)}}
	}
	if d.cards == nil {
		log.Warn("card click, and no cards are configured")
		return notice("card.unknown")
	}
	rec, ok, err := d.cards.Store.Card(ctx, c.OutTrackID)
	switch {
	case err != nil:
		log.Warn("card click: the card's record could not be read", "err", err.Error())
		return notice("card.unavailable")
	case !ok:
		log.Info("card click on a card the bot does not know (or forgot)")
		return notice("card.unknown")
	case !d.cfg.Now().Before(rec.Expires):
		log.Info("card click after the card expired")
		return dingtalk.CardAnswer{Data: map[string]string{"status": "expired", "result": d.runner.Text("card.expired")}}
	}
	cmd, ok := buttons[rec.Kind][c.Action]
	if !ok {
		log.Warn("card click on a button the card does not have")
		return notice("card.unknown")
	}
	now := d.cfg.Now()
	h := sha256.Sum256([]byte(c.OutTrackID + "\x00" + c.Action + "\x00" + c.UserID))
	m := &dingtalk.Message{
		MsgID: "card-" + hex.EncodeToString(h[:16]), MsgType: "text", Text: dingtalk.Text{Content: cmd + rec.Code},
		CreateAt: dingtalk.MillisOf(now), ConversationType: rec.ConversationType, ConversationID: rec.ConversationID,
		SenderStaffID: c.UserID, RobotCode: rec.RobotCode, CardTrack: c.OutTrackID,
	}
	d.Stream(ctx, m)
	return dingtalk.CardAnswer{}
}

// errNoCards: a card reply where none can go.
var errNoCards = errors.New("no cards configured")
