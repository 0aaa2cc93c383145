package commands

// Contact is an ARMS alert contact as this bot sees it.
type Contact struct {
	ID        string
	Name      string
	Phone     string
	Email     string
	Webhook   string // DingTalk custom-robot URL
	SystemNoc bool
}

// Validate enforces ARMS's rule that a contact has at least one channel.
// needChannel is /contact add's rule: a contact is reached somehow.
func needChannel(c *Call) *Error {
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
