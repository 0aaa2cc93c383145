// Package export renders contacts and groups for use outside the bot:
// CSV with the columns /contact add takes, and Terraform configuration
// whose import blocks adopt the existing contacts without recreating
// them. It knows nothing of ARMS or DingTalk: the core hands it rows.
package export

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// Contact is one contact as exported.
type Contact struct {
	ID, Name, Phone, Email, Webhook string
	Fallback                        string // alert-management: none, call, sms, default
	SystemNoc                       bool
	Groups                          []string // ContactGroupIds
}

// Group is one contact group as exported.
type Group struct {
	ID, Name string
	Members  []string // ContactIds
}

// Columns are the CSV header for a contact family: the keys /contact add
// takes in that family, and the groups.
func Columns(family string) []string {
	if family == "alert-management" {
		return []string{"name", "phone", "email", "fallback", "group"}
	}
	return []string{"name", "phone", "email", "webhook", "systemnoc", "group"}
}

// CSV renders cs with Columns(family). A name that a spreadsheet would
// take for a formula (= + - @ first) is written with a leading ', as
// spreadsheets themselves escape text.
func CSV(family string, cs []Contact) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	cols := Columns(family)
	_ = w.Write(cols)
	for _, c := range cs {
		row := make([]string, 0, len(cols))
		for _, col := range cols {
			switch col {
			case "name":
				row = append(row, inertCell(c.Name))
			case "phone":
				row = append(row, c.Phone)
			case "email":
				row = append(row, c.Email)
			case "webhook":
				row = append(row, c.Webhook)
			case "fallback":
				row = append(row, c.Fallback)
			case "systemnoc":
				row = append(row, fmt.Sprint(c.SystemNoc))
			case "group":
				row = append(row, strings.Join(c.Groups, ";"))
			}
		}
		_ = w.Write(row)
	}
	w.Flush()
	return b.Bytes()
}

func inertCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// ErrNoResource: the provider has no resource for the family's contacts.
var ErrNoResource = errors.New("the alicloud Terraform provider has no resource for this contact family")

// Terraform renders cs and gs as alicloud_arms_alert_contact and
// alicloud_arms_alert_contact_group resources, each with an import block
// naming its id, so that `terraform plan` adopts what exists. Only the
// legacy family has resources; a group member that is not among cs is
// named by its id.
func Terraform(family string, cs []Contact, gs []Group) ([]byte, error) {
	if family != "legacy" && family != "" {
		return nil, ErrNoResource
	}
	f := hclwrite.NewEmptyFile()
	body := f.Body()
	names := map[string]string{} // ContactId -> resource name
	used := map[string]bool{}
	for _, c := range cs {
		name := resourceName("contact", c.Name, c.ID, used)
		names[c.ID] = name
		r := body.AppendNewBlock("resource", []string{"alicloud_arms_alert_contact", name}).Body()
		r.SetAttributeValue("alert_contact_name", cty.StringVal(c.Name))
		for _, a := range []struct{ key, v string }{{"phone_num", c.Phone}, {"email", c.Email}, {"ding_robot_webhook_url", c.Webhook}} {
			if a.v != "" {
				r.SetAttributeValue(a.key, cty.StringVal(a.v))
			}
		}
		r.SetAttributeValue("system_noc", cty.BoolVal(c.SystemNoc))
		importBlock(body, "alicloud_arms_alert_contact", name, c.ID)
	}
	for _, g := range gs {
		name := resourceName("group", g.Name, g.ID, used)
		r := body.AppendNewBlock("resource", []string{"alicloud_arms_alert_contact_group", name}).Body()
		r.SetAttributeValue("alert_contact_group_name", cty.StringVal(g.Name))
		var members []hclwrite.Tokens
		for _, id := range g.Members {
			if n, ok := names[id]; ok {
				members = append(members, hclwrite.TokensForTraversal(hcl.Traversal{
					hcl.TraverseRoot{Name: "alicloud_arms_alert_contact"}, hcl.TraverseAttr{Name: n}, hcl.TraverseAttr{Name: "id"}}))
			} else {
				members = append(members, hclwrite.TokensForValue(cty.StringVal(id)))
			}
		}
		r.SetAttributeRaw("contact_ids", hclwrite.TokensForTuple(members))
		importBlock(body, "alicloud_arms_alert_contact_group", name, g.ID)
	}
	return hclwrite.Format(f.Bytes()), nil
}

func importBlock(body *hclwrite.Body, typ, name, id string) {
	b := body.AppendNewBlock("import", nil).Body()
	b.SetAttributeTraversal("to", hcl.Traversal{hcl.TraverseRoot{Name: typ}, hcl.TraverseAttr{Name: name}})
	b.SetAttributeValue("id", cty.StringVal(id))
	body.AppendNewline()
}

// resourceName derives a Terraform name from what people called the
// object: its ASCII letters and digits, lower-cased, with its id, so that
// it is unique and valid whatever the name holds (a Chinese name keeps
// only the id).
func resourceName(kind, display, id string, used map[string]bool) string {
	var b strings.Builder
	lastUnderscore := true
	for _, r := range strings.ToLower(display) {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
			lastUnderscore = false
		} else if !lastUnderscore {
			b.WriteByte('_')
			lastUnderscore = true
		}
	}
	slug := strings.Trim(b.String(), "_")
	if len(slug) > 40 {
		slug = strings.TrimRight(slug[:40], "_")
	}
	parts := []string{kind}
	if slug != "" {
		parts = append(parts, slug)
	}
	name := strings.Join(append(parts, id), "_")
	for n := 2; used[name]; n++ {
		name = strings.Join(append(parts, id, fmt.Sprint(n)), "_")
	}
	used[name] = true
	return name
}

// Fence is a markdown code fence longer than any run of backticks in s,
// so that nothing inside can close it.
func Fence(s string) string {
	longest, run := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}
