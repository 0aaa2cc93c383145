package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/dingtalk/dingtalktest"
	"github.com/armsbot/armsbot/commands/catalog"
)

// send signs a real-shaped DingTalk message and posts it to a running bot,
// printing the reply and its outcome, and fails unless the outcome is the
// one expected (ok by default): a smoke test that can gate a deploy. When the bot answers
// asynchronously, the reply is awaited on a local sessionWebhook receiver
// (whose URL the bot must allow in DINGTALK_SESSION_WEBHOOK_PREFIXES).
func send(ctx context.Context, cfg *Config, stdout io.Writer) error {
	as := cfg.SendAs
	if as == "" && len(cfg.Admins) > 0 {
		as = cfg.Admins[0]
	}
	if as == "" {
		as = "smoke-test"
	}
	// A stand-in for DingTalk's sessionWebhook receives an asynchronous reply.
	recv, err := dingtalktest.Listen(cfg.SendListen, "", "")
	if err != nil {
		return fmt.Errorf("listen for the reply: %w", err)
	}
	defer recv.Close()
	base := cfg.SendSessionBase
	if base == "" {
		base = recv.URL
	}

	now := time.Now()
	m := dingtalk.NewTextMessage(fmt.Sprintf("bot-send-%d", now.UnixNano()), as, cfg.Text, now)
	if !cfg.ShellGroup {
		m.ConversationType = "1"
	}
	m.ConversationID, m.ConversationTitle = "cid-bot-send", "bot send"
	m.SenderCorpID, m.ChatbotCorpID, m.RobotCode = cfg.CorpID, cfg.CorpID, cfg.RobotCode
	m.SessionWebhook = base + dingtalktest.SessionPath + "?session=bot-send"
	m.SessionWebhookExpiredTime = dingtalk.MillisOf(now.Add(90 * time.Minute))
	body, err := m.Body()
	if err != nil {
		return err
	}
	req, err := dingtalk.NewCallbackRequest(ctx, cfg.SendURL, cfg.AppSecret, now, body)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("post to %s: %w", cfg.SendURL, err)
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the bot answered HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	out, err := dingtalk.DecodeReply(raw)
	if err != nil {
		return fmt.Errorf("the bot's answer is not a DingTalk reply: %w", err)
	}
	if out.MsgType == "empty" {
		fmt.Fprintf(stdout, "(the bot answers asynchronously; waiting up to %s for the reply at %s)\n", cfg.SendWait, base)
		wctx, cancel := context.WithTimeout(ctx, cfg.SendWait)
		late, ok := recv.NextContext(wctx)
		cancel()
		switch {
		case ok:
			out = dingtalk.Reply{MsgType: "markdown", Markdown: &dingtalk.Markdown{Title: late.Title, Text: late.Text}}
		case ctx.Err() != nil:
			return ctx.Err()
		default:
			return fmt.Errorf("no reply within %s; is %s%s among the bot's DINGTALK_SESSION_WEBHOOK_PREFIXES?", cfg.SendWait, base, dingtalktest.SessionPath)
		}
	}
	if out.Markdown == nil {
		return fmt.Errorf("unexpected reply type %q", out.MsgType)
	}
	b, _ := json.Marshal(out)
	fmt.Fprint(stdout, terminalText(b, false))
	verdict := catalog.Verdict(out.Markdown.Title)
	fmt.Fprintf(stdout, "outcome: %s\n", verdict)
	if cfg.SendExpect != "any" && verdict != cfg.SendExpect {
		return fmt.Errorf("the bot answered %q, not %q (--expect)", verdict, cfg.SendExpect)
	}
	return nil
}
