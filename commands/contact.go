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
}

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
