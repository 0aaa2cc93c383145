package commands

import (
	"context"
	"errors"
	"strings"
)

// An @mention in a command names a person by the name the sender's
// DingTalk shows; the message lists the staff ids of the people it
// mentions (atUsers), in no reliable order and with nothing that says which
// id is which name. The body is not signed either: a forged one can list
// anybody. So a mention is resolved by asking the directory for the name of
// each mentioned staff id and taking the one whose name is the name typed;
// when none or several are, or the directory cannot say, the sender is
// asked for the staff id instead of the bot guessing.

// resolveMentions replaces every @name argument of c with the staff id of
// the mentioned person of that name.
func (r *Runner) resolveMentions(ctx context.Context, c *Call) error {
	for _, a := range c.Spec.Args {
		if a.Kind != KindUser && a.Kind != KindWho {
			continue
		}
		v := c.vals[a.Name]
		if !strings.HasPrefix(v, "@") {
			continue
		}
		id, err := r.mentioned(ctx, c, strings.TrimPrefix(v, "@"))
		if err != nil {
			return err
		}
		c.vals[a.Name] = id
	}
	return nil
}

// mentioned finds the staff id of the person named name among the people
// the message mentions.
func (r *Runner) mentioned(ctx context.Context, c *Call, name string) (string, error) {
	typed := short("@" + name)
	if len(c.Msg.Mentions) == 0 {
		return "", invalid(nil, "err.mention_none", typed)
	}
	if r.directory == nil {
		return "", invalid(nil, "err.mention_unchecked", typed, "no directory")
	}
	var matches []string
	for _, id := range c.Msg.Mentions {
		p, err := r.person(ctx, c, id)
		var de DirectoryError
		switch {
		case errors.As(err, &de) && de.NotFound():
			continue
		case err != nil:
			return "", &Error{Code: EINVALID, Key: "err.mention_unchecked", Args: []any{typed, directoryProblem(err)}, Err: err}
		}
		if sameName(p.Name, name) {
			matches = append(matches, id)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return "", invalid(nil, "err.mention_mismatch", typed)
	}
	return "", invalid(nil, "err.mention_several", typed)
}

// person is what the directory says of staffID, asked once per message.
func (r *Runner) person(ctx context.Context, c *Call, staffID string) (Person, error) {
	if p, ok := c.people[staffID]; ok {
		return p, nil
	}
	p, err := r.directory.Person(ctx, staffID)
	if err != nil {
		return Person{}, err
	}
	if c.people == nil {
		c.people = map[string]Person{}
	}
	c.people[staffID] = p
	return p, nil
}

// sameName compares a typed name with the directory's, as a reader would:
// ignoring case and surrounding space (width is folded when the text is
// normalised).
func sameName(directory, typed string) bool {
	d, t := strings.TrimSpace(directory), strings.TrimSpace(typed)
	return d != "" && strings.EqualFold(d, t)
}

// directoryProblem says briefly why the directory could not answer.
func directoryProblem(err error) string {
	var de DirectoryError
	if errors.As(err, &de) && de.Permission() != "" {
		return "missing permission " + de.Permission()
	}
	return "not reachable"
}
