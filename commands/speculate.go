package commands

// Speculate says, before message m runs, what it will write when it runs
// as it most likely does, and which values it will hold: a /contact add
// whose create needs nothing read first (no person from the directory, no
// group, not a dry run, a contact family that refuses duplicates itself)
// writes exactly that create under its channels' locks. The state store
// records the write as the message's intent in the same step that admits
// it, so that the add's write costs no step of its own; a message that
// then writes anything else, or much later, records that as usual. Where
// the family does not refuse duplicates the add searches first: only the
// locks are known (w is nil). ok is false when nothing is known.
//
// Nothing here is trusted: the message runs every check as always, and an
// intent it never acts on goes with its settle.
//
// read is the text as it was read, for the message's Handle (Message.Read),
// whatever the command.
func (r *Runner) Speculate(m Message) (read *Read, w *Write, hold []string, ok bool) {
	call, err := Parse(r.specs, m.Text)
	if err != nil {
		return nil, nil, nil, false
	}
	read = &Read{text: m.Text, call: call}
	if call.Spec.Name() != "contact add" {
		return read, nil, nil, false
	}
	// What follows reads a copy of the values: the message's own run
	// checks them again, as the sender it is.
	w, hold, ok = r.foretell(call, m)
	return read, w, hold, ok
}

func (r *Runner) foretell(parsed *Call, m Message) (w *Write, hold []string, ok bool) {
	call := *parsed
	call.Msg = m
	if call.check() != nil || r.familyAllows(&call) != nil { // the values as the command will read them
		return nil, nil, false
	}
	if call.Get("who") != "" || call.Get("group") != "" || call.Bool("dry-run") {
		return nil, nil, false
	}
	ct := Contact{
		Name:      call.Get("name"),
		Phone:     call.Get("phone"),
		Email:     call.Get("email"),
		Webhook:   call.Get("webhook"),
		SystemNoc: call.Bool("systemnoc"),
		Fallback:  call.Get("fallback"),
	}
	if ct.Validate() != nil || ct.Email == "" && ct.Phone == "" {
		return nil, nil, false
	}
	hold = channelKeys(ct)
	if !r.arms.Traits().Unique {
		return nil, hold, true
	}
	return &Write{Action: "create", Contact: ct}, hold, true
}
