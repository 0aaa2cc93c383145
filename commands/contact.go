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
func (c Contact) Validate() error {
	if c.Phone == "" && c.Email == "" && c.Webhook == "" {
		return &Error{Code: EINVALID, Key: "err.need_channel"}
	}
	return nil
}
