package bot

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestSignDocumentedVector(t *testing.T) {
	if got := Sign("1577262236757", "this is a secret"); got != "DJrE6qdyVGCQz9z5r2MDuNcNAhwYnuAkyj13cx169CA=" {
		t.Fatalf("Sign = %s", got)
	}
}

func TestVerify(t *testing.T) {
	const ts, secret, sig = "1577262236757", "this is a secret", "DJrE6qdyVGCQz9z5r2MDuNcNAhwYnuAkyj13cx169CA="
	sent := time.UnixMilli(1577262236757)
	tests := []struct {
		name      string
		now       time.Time
		ts, sign  string
		secret    string
		wantError error
	}{
		{"documented vector", sent.Add(2 * time.Second), ts, sig, secret, nil},
		{"exactly one hour late", sent.Add(time.Hour), ts, sig, secret, nil},
		{"exactly one hour early", sent.Add(-time.Hour), ts, sig, secret, nil},
		{"one hour and a millisecond late", sent.Add(time.Hour + time.Millisecond), ts, sig, secret, errStale},
		{"one hour and a millisecond early", sent.Add(-time.Hour - time.Millisecond), ts, sig, secret, errStale},
		{"other secret", sent, ts, sig, "another secret", errBadSignature},
		{"URL-encoded signature", sent, ts, "DJrE6qdyVGCQz9z5r2MDuNcNAhwYnuAkyj13cx169CA%3D", secret, errBadSignature},
		{"missing sign", sent, ts, "", secret, errNoSignature},
		{"missing timestamp", sent, "", sig, secret, errNoSignature},
		{"timestamp in seconds", sent, "1577262236", sig, secret, errStale},
		{"timestamp not a number", sent, "yesterday", sig, secret, errBadTimestamp},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := verifier{secret: tc.secret, now: func() time.Time { return tc.now }}
			if err := v.verify(tc.ts, tc.sign); err != tc.wantError {
				t.Fatalf("verify = %v, want %v", err, tc.wantError)
			}
		})
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
	var m inbound
	if err := json.Unmarshal([]byte(officialSample), &m); err != nil {
		t.Fatal(err)
	}
	want := inbound{
		MsgID: "msg0xxxxx", MsgType: "text", CreateAt: 1613630252678, ConversationType: "2",
		ConversationID: "cidqO7Ne7e+myoRu67AguW6HQ==", ConversationTitle: "机器人测试-TEST",
		SenderID: "$:LWCP_v1:$Ff09GIxxxxx", SenderNick: "张三", SenderCorpID: "dinge8a565xxxx",
		SenderStaffID: "user123", ChatbotCorpID: "dinge8a565xxxx", ChatbotUserID: "$:LWCP_v1:$bot",
		RobotCode: "dingrobot", IsAdmin: true, IsInAtList: true,
		SessionWebhook:            "https://oapi.dingtalk.com/robot/sendBySession?session=xxxxx",
		SessionWebhookExpiredTime: 1613635652738,
		AtUsers:                   []atUser{{DingtalkID: "$:LWCP_v1:$bot"}, {DingtalkID: "$:LWCP_v1:$other", StaffID: "2222"}},
	}
	want.Text.Content = " 你好"
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", m, want)
	}
	if got := m.mentions(); !reflect.DeepEqual(got, []string{"2222"}) {
		t.Errorf("mentions = %v, want [2222] (the robot itself left out)", got)
	}
	if !m.group() || m.userID() != "user123" {
		t.Errorf("group=%v userID=%q", m.group(), m.userID())
	}

	// createAt as a string, as the field table documents it; an external
	// member has no staff id and is known by senderId.
	var ext inbound
	if err := json.Unmarshal([]byte(`{"msgId":"m","createAt":"1613630252678","senderId":"$:enc","conversationType":"1"}`), &ext); err != nil {
		t.Fatal(err)
	}
	if ext.CreateAt != 1613630252678 || ext.userID() != "$:enc" || ext.group() {
		t.Errorf("external one-to-one message decoded as %+v", ext)
	}
}

func TestMarkdownReplyMentionsSender(t *testing.T) {
	o := markdownReply("Done", "body", "user123")
	b, _ := json.Marshal(o)
	want := `{"msgtype":"markdown","markdown":{"title":"Done","text":"body\n\n@user123"},"at":{"atUserIds":["user123"],"isAtAll":false}}`
	if string(b) != want {
		t.Fatalf("reply\n%s\nwant\n%s", b, want)
	}
	// No staff id (an external member): no mention rather than a broken one.
	b, _ = json.Marshal(markdownReply("Done", "body", ""))
	if want := `{"msgtype":"markdown","markdown":{"title":"Done","text":"body"}}`; string(b) != want {
		t.Fatalf("reply without staff id\n%s\nwant\n%s", b, want)
	}
}

func TestSessionWebhookPrefixes(t *testing.T) {
	s := &sessionSender{prefixes: []string{defaultSessionPrefix}}
	tests := []struct {
		url  string
		want bool
	}{
		{"https://oapi.dingtalk.com/robot/sendBySession?session=abc", true},
		{"https://oapi.dingtalk.com/robot/send?access_token=abc", false},
		{"http://oapi.dingtalk.com/robot/sendBySession?session=abc", false},
		{"https://oapi.dingtalk.com.evil.example/robot/sendBySession", false},
		{"https://evil.example/?https://oapi.dingtalk.com/robot/sendBySession", false},
		{"https://user@oapi.dingtalk.com/robot/sendBySession?session=abc", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := s.allowed(tc.url); got != tc.want {
			t.Errorf("allowed(%q) = %v, want %v", tc.url, got, tc.want)
		}
	}
	// Even a prefix written without a path cannot be stretched to another host.
	loose := &sessionSender{prefixes: []string{"https://oapi.dingtalk.com"}}
	if loose.allowed("https://oapi.dingtalk.com.evil.example/robot/sendBySession") {
		t.Error("host-only prefix matched a different host")
	}
}
