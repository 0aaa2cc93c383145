package commands

import "time"

// Contact is an ARMS alert contact as this bot sees it.
type Contact struct {
	ID        string
	Name      string
	Phone     string
	Email     string
	Webhook   string // DingTalk custom-robot URL
	SystemNoc bool
	// Created is when ARMS created it, as a search reports it; zero
	// otherwise.
	Created time.Time `json:"-"`
	// Verified says whether ARMS will call and text the phone: only a
	// number whose owner opened ARMS's verification link is used (Alert
	// Management; the legacy family does not say).
	Verified Verification `json:"verified,omitempty"`
	// Fallback is what ARMS does when a call is not answered: "none",
	// "call" (again), "sms", "default" (the account's); "" when not said
	// (Alert Management only).
	Fallback string `json:"fallback,omitempty"`
	// CorpUserID is the person's DingTalk user id, so that ARMS's alert
	// cards @-mention them (Alert Management only).
	CorpUserID string `json:"corp_user_id,omitempty"`
}

// Verification is what ARMS says of a contact's phone.
type Verification int

const (
	VerifyUnknown Verification = iota // the contact family does not say
	PhoneVerified
	PhoneUnverified
)

// Fallbacks are the values of Contact.Fallback, in the order ARMS numbers
// them (ReissueSendNotice 0 to 3).
var Fallbacks = []string{"none", "call", "sms", "default"}

// Validate enforces ARMS's rule that a contact has at least one channel.
// contactAddRule: a contact has a name and is reached somehow, unless the
// directory fills them in (/contact add me).
func contactAddRule(c *Call) *Error {
	if _, fromDirectory := c.raw["who"]; fromDirectory {
		return nil
	}
	if _, named := c.raw["name"]; !named {
		return invalid(nil, "err.required", "name")
	}
	for _, k := range []string{"phone", "email", "webhook"} {
		if _, given := c.raw[k]; given {
			return nil
		}
	}
	return &Error{Code: EINVALID, Key: "err.need_channel"}
}

func (c Contact) Validate() error {
	if c.Phone == "" && c.Email == "" && c.Webhook == "" {
		return &Error{Code: EINVALID, Key: "err.need_channel"}
	}
	return nil
}
