package commands

import (
	"errors"
	"strings"

	"github.com/armsbot/armsbot/commands/catalog"
)

// dryRun is the reply to a write asked with dry-run=true, once every read
// and check of the real command passed: the exact requests it would send
// (personal data masked unless the chat is private), and nothing sent.
func (r *Runner) dryRun(c *Call, ws []Write, res Result) (Result, error) {
	if r.planner == nil {
		return Result{}, errors.New("dry run: no planner")
	}
	header, tail := "dry.header", "dry.nothing_changed"
	if c.held != nil {
		// The preview of a request: it runs once approved, not resent.
		header, tail = "approval.would_send", ""
	}
	lines := []string{r.lang.T(header)}
	for _, w := range ws {
		req, err := r.planner.Plan(w)
		if err != nil {
			return Result{}, err
		}
		params := make([]string, 0, len(req.Params))
		for _, p := range req.Params {
			v := p.Value
			if p.Personal != "" && !c.Msg.Private {
				v = r.maskField(p.Personal, v)
			}
			params = append(params, catalog.Inert(p.Name)+"="+catalog.Inert(v))
		}
		lines = append(lines, "- **"+catalog.Inert(req.Action)+"** "+strings.Join(params, ", "))
	}
	if tail != "" {
		lines = append(lines, r.lang.T(tail))
	}
	res.Text, res.DryRun = strings.Join(lines, "\n\n"), true
	return res, nil
}
