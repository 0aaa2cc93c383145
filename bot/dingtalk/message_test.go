package dingtalk

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The official group sample, as DingTalk sends it.
const officialSample = `{
  "conversationId": "cidqO7Ne7e+myoRu67AguW6HQ==",
  "atUsers": [{"dingtalkId": "$:LWCP_v1:$bot", "staffId": ""}, {"dingtalkId": "$:LWCP_v1:$other", "staffId": "2222"}],
  "chatbotCorpId": "dinge8a565xxxx",
  "chatbotUserId": "$:LWCP_v1:$bot",
  "msgId": "msg0xxxxx",
  "senderNick": "张三",
  "isAdmin": true,
  "senderStaffId": "user123",
  "sessionWebhookExpiredTime": 1613635652738,
  "createAt": 1613630252678,
  "senderCorpId": "dinge8a565xxxx",
  "conversationType": "2",
  "senderId": "$:LWCP_v1:$Ff09GIxxxxx",
  "conversationTitle": "机器人测试-TEST",
  "isInAtList": true,
  "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=xxxxx",
  "text": {"content": " 你好"},
  "robotCode": "dingrobot",
  "msgtype": "text"
}`

func TestDecodeMessage(t *testing.T) {
	m, err := DecodeMessage(strings.NewReader(officialSample))
	if err != nil {
		t.Fatal(err)
	}
	want := Message{
		MsgID: "msg0xxxxx", MsgType: "text", CreateAt: 1613630252678, ConversationType: "2",
		ConversationID: "cidqO7Ne7e+myoRu67AguW6HQ==", ConversationTitle: "机器人测试-TEST",
		SenderID: "$:LWCP_v1:$Ff09GIxxxxx", SenderNick: "张三", SenderCorpID: "dinge8a565xxxx",
		SenderStaffID: "user123", ChatbotCorpID: "dinge8a565xxxx", ChatbotUserID: "$:LWCP_v1:$bot",
		RobotCode: "dingrobot", IsAdmin: true, IsInAtList: true,
		SessionWebhook:            "https://oapi.dingtalk.com/robot/sendBySession?session=xxxxx",
		SessionWebhookExpiredTime: 1613635652738,
		AtUsers:                   []AtUser{{DingtalkID: "$:LWCP_v1:$bot"}, {DingtalkID: "$:LWCP_v1:$other", StaffID: "2222"}},
		Text:                      Text{Content: " 你好"},
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", m, want)
	}
	if got := m.Mentions(); !reflect.DeepEqual(got, []string{"2222"}) {
		t.Errorf("mentions = %v, want [2222] (the robot itself left out)", got)
	}
	if m.OneToOne() || m.UserID() != "user123" || !m.IsText() || m.Command() != "你好" {
		t.Errorf("one-to-one=%v userID=%q text=%v command=%q", m.OneToOne(), m.UserID(), m.IsText(), m.Command())
	}

	// createAt as a string, as the field table documents it; an external
	// member has no staff id and is anonymous: the senderId the body
	// carries is no identity.
	ext, err := DecodeMessage(strings.NewReader(`{"msgId":"m","createAt":"1613630252678","senderId":"$:enc","conversationType":"1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if ext.CreateAt != 1613630252678 || ext.UserID() != "" || ext.RateKey() != "anon:$:enc" || !ext.OneToOne() {
		t.Errorf("external one-to-one message decoded as %+v", ext)
	}
}

func TestDecodeMessageRejects(t *testing.T) {
	for _, body := range []string{`{"msgId": "x", "text": {`, `[1,2,3]`, ``, `{"msgId":"m","createAt":"12x"}`, `{"msgId":"m","atUsers":[{"dingtalkId":1}]}`} {
		if _, err := DecodeMessage(strings.NewReader(body)); err == nil || errors.Is(err, ErrNoMsgID) {
			t.Errorf("DecodeMessage(%q) = %v, want a decoding error", body, err)
		}
	}
	if _, err := DecodeMessage(strings.NewReader(`{"msgtype":"text","text":{"content":"/help"}}`)); !errors.Is(err, ErrNoMsgID) {
		t.Errorf("a message without msgId: %v, want ErrNoMsgID", err)
	}
}

func TestCleanText(t *testing.T) {
	tests := []struct{ in, want string }{
		{" /contact add name=X", "/contact add name=X"},
		{"/help", "/help"},
		{"@ARMS助手 /contact add name=X", "/contact add name=X"},
		{"@ARMS助手 @张三 /help", "/help"},
		{"\u3000@ARMS助手\u3000/help", "/help"},
		{"@ARMS助手/help", "/help"},
		{"＠ARMS助手 /help", "/help"},
		{" /contact add name=X email=a@b.com", "/contact add name=X email=a@b.com"},
		{"/contact add email=a@b.com @someone", "/contact add email=a@b.com @someone"},
		{"@only-a-mention", ""},
		{"   ", ""},
		{"", ""},
		{" 你好\n", "你好"},
	}
	for _, tc := range tests {
		if got := CleanText(tc.in); got != tc.want {
			t.Errorf("CleanText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSessionUsable(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	tests := []struct {
		name    string
		webhook string
		expires Millis
		want    bool
	}{
		{"alive", "https://oapi.dingtalk.com/robot/sendBySession?session=s", MillisOf(now.Add(time.Hour)), true},
		{"expiry not given", "https://oapi.dingtalk.com/robot/sendBySession?session=s", 0, true},
		{"expired", "https://oapi.dingtalk.com/robot/sendBySession?session=s", MillisOf(now.Add(-time.Minute)), false},
		{"about to expire", "https://oapi.dingtalk.com/robot/sendBySession?session=s", MillisOf(now.Add(3 * time.Second)), false},
		{"no webhook", "", MillisOf(now.Add(time.Hour)), false},
	}
	for _, tc := range tests {
		m := Message{SessionWebhook: tc.webhook, SessionWebhookExpiredTime: tc.expires}
		if got := m.SessionUsable(now); got != tc.want {
			t.Errorf("%s: SessionUsable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestOrigin(t *testing.T) {
	o := Origin{CorpID: "dingcorp", RobotCode: "dingrobot"}
	ours := Message{ChatbotCorpID: "dingcorp", SenderCorpID: "dingcorp", RobotCode: "dingrobot"}
	tests := []struct {
		name string
		edit func(*Message)
		ok   bool
	}{
		{"ours", func(*Message) {}, true},
		{"no senderCorpId (some senders have none)", func(m *Message) { m.SenderCorpID = "" }, true},
		{"another organisation's robot", func(m *Message) { m.ChatbotCorpID = "othercorp" }, false},
		{"a sender of another organisation", func(m *Message) { m.SenderCorpID = "othercorp" }, false},
		{"another robot", func(m *Message) { m.RobotCode = "otherrobot" }, false},
	}
	for _, tc := range tests {
		m := ours
		tc.edit(&m)
		if err := o.Check(&m); (err == nil) != tc.ok {
			t.Errorf("%s: Check = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	if err := (Origin{}).Check(&Message{ChatbotCorpID: "anything"}); err != nil {
		t.Errorf("an empty Origin checks nothing, got %v", err)
	}
}

// What the builder makes decodes back to the same message, and its
// signature verifies.
func TestBuiltCallbacksAreRealShaped(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_000)
	m := NewTextMessage("msg-1", "user123", "/contact list", at)
	m.ConversationID, m.RobotCode = "cid==", "dingrobot"
	body, err := m.Body()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeMessage(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) || got.Command() != "/contact list" || got.UserID() != "user123" || got.OneToOne() {
		t.Errorf("round trip\n%+v\nwant\n%+v", got, m)
	}
	req, err := NewCallbackRequest(t.Context(), "http://bot.example/dingtalk/webhook", "s3cret", at, body)
	if err != nil {
		t.Fatal(err)
	}
	if err := NewVerifier("s3cret", func() time.Time { return at.Add(time.Second) }).VerifyRequest(req.Header); err != nil {
		t.Errorf("the built request's signature does not verify: %v", err)
	}
}

// The body is not signed: one that could be read two ways is refused, so
// that no guard looks at one senderStaffId while the bot acts on another.
func TestDecodeRefusesAmbiguousBodies(t *testing.T) {
	const base = `"msgId":"m1","msgtype":"text","text":{"content":"/whoami"}`
	tests := []struct {
		name, body string
		want       error // nil: accepted
	}{
		{"plain", `{` + base + `,"senderStaffId":"u1"}`, nil},
		{"key twice", `{` + base + `,"senderStaffId":"u1","senderStaffId":"admin"}`, ErrAmbiguous},
		{"keys differing in case", `{` + base + `,"senderStaffId":"u1","SENDERSTAFFID":"admin"}`, ErrAmbiguous},
		{"long s folds to s", `{` + base + `,"senderStaffId":"u1","ſenderStaffId":"admin"}`, ErrAmbiguous},
		{"Kelvin sign folds to k", `{` + base + `,"atUsers":[{"dingtalkId":"a","dingtal\u212aId":"b"}]}`, ErrAmbiguous},
		{"nested key twice", `{"msgId":"m1","text":{"content":"/a","content":"/b"}}`, ErrAmbiguous},
		{"in an array", `{` + base + `,"atUsers":[{"staffId":"a","STAFFID":"b"}]}`, ErrAmbiguous},
		{"same key in two objects", `{` + base + `,"atUsers":[{"staffId":"a"},{"staffId":"b"}]}`, nil},
		{"data after the object", `{` + base + `}{"msgId":"m2"}`, ErrAmbiguous},
		{"garbage after the object", `{` + base + `} x`, ErrAmbiguous},
		{"white space after the object", `{` + base + "}\n\t ", nil},
		{"a msgId no message has", `{"msgId":"` + strings.Repeat("m", 300) + `"}`, ErrAmbiguous},
		{"a sender id no message has", `{` + base + `,"senderStaffId":"` + strings.Repeat("u", 300) + `"}`, ErrAmbiguous},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeMessage(strings.NewReader(tc.body))
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("DecodeMessage(%s) = %v, want %v", tc.body, err, tc.want)
			}
		})
	}
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	if _, err := DecodeMessage(strings.NewReader(`{"msgId":"m","x":` + deep + `}`)); err == nil {
		t.Error("a body nested 100000 deep was accepted")
	}
}
