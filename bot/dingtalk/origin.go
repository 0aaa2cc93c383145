package dingtalk

import "errors"

// Origin pins messages to one organisation and one robot. DingTalk's
// signature covers only the timestamp, so a captured signature could carry
// any body for an hour; checking the body's own corp and robot closes that
// to messages of this organisation's robot. Empty fields check nothing.
type Origin struct {
	CorpID    string
	RobotCode string
}

var (
	errOtherCorp       = errors.New("chatbotCorpId is not the configured corp id")
	errOtherSenderCorp = errors.New("senderCorpId is not the configured corp id")
	errOtherRobot      = errors.New("robotCode is not the configured robot code")
)

// Check returns why m is not from this organisation and robot, or nil.
// senderCorpId is only compared when DingTalk sends it: some senders have
// none.
func (o Origin) Check(m *Message) error {
	switch {
	case o.CorpID != "" && m.ChatbotCorpID != o.CorpID:
		return errOtherCorp
	case o.CorpID != "" && m.SenderCorpID != "" && m.SenderCorpID != o.CorpID:
		return errOtherSenderCorp
	case o.RobotCode != "" && m.RobotCode != o.RobotCode:
		return errOtherRobot
	}
	return nil
}
