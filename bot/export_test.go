package bot_test

import (
	"encoding/csv"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/armsbot/armsbot/arms/armstest"
)

// fenced returns what a reply holds between its code fences.
var fencedRE = regexp.MustCompile("(?s)```+[a-z]*\n(.*?)```+")

// An export, through the real SDK against the ARMS stand-in, in a
// one-to-one chat: CSV with every contact unmasked, re-readable with the
// header /contact add's keys make; Terraform whose import blocks name
// every ContactId and the group; in a group it is refused, saying where
// to ask.
func TestExportCSVAndTerraform(t *testing.T) {
	t.Parallel()
	h := startBot(t, nil)
	var ids []string
	for i := range 5 {
		ids = append(ids, h.addContact(armstest.Contact{ContactName: "Ops " + strconv.Itoa(i), Phone: "1381111000" + strconv.Itoa(i), Email: "ops" + strconv.Itoa(i) + "@example.com"}))
	}
	gid := group1(t, groupIDRE, h.say(adminID, "/group create name=SRE contacts="+ids[0]+","+ids[1]).Markdown.Text, "ContactGroupId")

	contains(t, "in a group", h.say(adminID, "/contact export").Markdown.Text, "one-to-one chat")

	r := h.sayPrivately(adminID, "/contact export format=csv")
	m := fencedRE.FindStringSubmatch(r.Markdown.Text)
	if m == nil {
		t.Fatalf("no fenced export:\n%s", r.Markdown.Text)
	}
	rows, err := csv.NewReader(strings.NewReader(m[1])).ReadAll()
	if err != nil || len(rows) != 6 || !slices.Equal(rows[0], []string{"name", "phone", "email", "webhook", "systemnoc", "group"}) {
		t.Fatalf("csv %q, %v", rows, err)
	}
	var phones []string
	for _, row := range rows[1:] {
		phones = append(phones, row[1])
		if row[1] == "13811110000" && row[5] != gid {
			t.Errorf("the group column of a member: %q", row)
		}
	}
	slices.Sort(phones)
	if phones[0] != "13811110000" || phones[4] != "13811110004" {
		t.Errorf("phones %v: unmasked, every contact", phones)
	}

	r = h.sayPrivately(adminID, "/contact export format=terraform")
	m = fencedRE.FindStringSubmatch(r.Markdown.Text)
	if m == nil {
		t.Fatalf("no fenced export:\n%s", r.Markdown.Text)
	}
	f, diags := hclparse.NewParser().ParseHCL([]byte(m[1]), "armsbot.tf")
	if diags.HasErrors() {
		t.Fatalf("%s\n%s", diags, m[1])
	}
	content, _, _ := f.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "import"}, {Type: "resource", LabelNames: []string{"type", "name"}}}})
	var imported []string
	for _, b := range content.Blocks {
		if b.Type == "import" {
			attrs, _ := b.Body.JustAttributes()
			v, _ := attrs["id"].Expr.Value(nil)
			imported = append(imported, v.AsString())
		}
	}
	want := append(slices.Clone(ids), gid)
	slices.Sort(want)
	slices.Sort(imported)
	if !slices.Equal(imported, want) {
		t.Errorf("imported %v, want every ContactId and the group: %v", imported, want)
	}

	// One group's contacts only.
	r = h.sayPrivately(adminID, "/contact export group="+gid)
	contains(t, "a group's export", r.Markdown.Text, "2 contact(s), 1 group(s)")
}
