package export

import (
	"encoding/csv"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

var contacts = []Contact{
	{ID: "101", Name: "John Doe", Phone: "13811112222", Email: "john@example.com", SystemNoc: true, Groups: []string{"701"}},
	{ID: "102", Name: "张三", Email: "zs@example.com"},
	{ID: "103", Name: "=HYPERLINK(\"http://evil.example\")", Webhook: "https://oapi.dingtalk.com/robot/send?access_token=abc"},
	{ID: "104", Name: "John Doe", Phone: "13911112222", Groups: []string{"701", "702"}},
}

var groups = []Group{{ID: "701", Name: "SRE on-call", Members: []string{"101", "104", "999"}}, {ID: "702", Name: "运维", Members: []string{"104"}}}

// The CSV has the keys /contact add takes as its header, a row per
// contact, and no cell a spreadsheet would run as a formula.
func TestCSV(t *testing.T) {
	for _, family := range []string{"legacy", "alert-management"} {
		rows, err := csv.NewReader(strings.NewReader(string(CSV(family, contacts)))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rows[0], Columns(family)) || len(rows) != len(contacts)+1 {
			t.Fatalf("%s: %q", family, rows)
		}
		if rows[1][0] != "John Doe" || rows[1][1] != "13811112222" || rows[4][len(rows[4])-1] != "701;702" {
			t.Errorf("%s rows: %q", family, rows)
		}
		if got := rows[3][0]; !strings.HasPrefix(got, "'=") {
			t.Errorf("%s: a formula-like name is written %q", family, got)
		}
	}
}

var resourceNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// The Terraform parses, names every contact and group in an import block
// with its id, gives each a valid and unique name whatever it is called,
// and makes a group's members references to their resources.
func TestTerraform(t *testing.T) {
	out, err := Terraform("legacy", contacts, groups)
	if err != nil {
		t.Fatal(err)
	}
	f, diags := hclparse.NewParser().ParseHCL(out, "armsbot.tf")
	if diags.HasErrors() {
		t.Fatalf("%s\n%s", diags, out)
	}
	content, _, diags := f.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: "resource", LabelNames: []string{"type", "name"}}, {Type: "import"}}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	names := map[string]bool{}
	var imported []string
	for _, b := range content.Blocks {
		switch b.Type {
		case "resource":
			if !resourceNameRE.MatchString(b.Labels[1]) || names[b.Labels[1]] {
				t.Errorf("resource name %q is not valid or not unique", b.Labels[1])
			}
			names[b.Labels[1]] = true
		case "import":
			attrs, _ := b.Body.JustAttributes()
			v, _ := attrs["id"].Expr.Value(nil)
			imported = append(imported, v.AsString())
			to := hcl.ExprAsKeyword(attrs["to"].Expr)
			if to != "" {
				t.Errorf("import to %q is a keyword, want a resource address", to)
			}
		}
	}
	slices.Sort(imported)
	if want := []string{"101", "102", "103", "104", "701", "702"}; !slices.Equal(imported, want) {
		t.Errorf("imported %v, want %v", imported, want)
	}
	for _, s := range []string{"alicloud_arms_alert_contact.contact_john_doe_101.id", `"999"`, `alert_contact_name = "张三"`,
		"resource \"alicloud_arms_alert_contact\" \"contact_102\"", "system_noc         = true"} {
		if !strings.Contains(string(out), s) {
			t.Errorf("output lacks %s:\n%s", s, out)
		}
	}
	if _, err := Terraform("alert-management", contacts, nil); !errors.Is(err, ErrNoResource) {
		t.Errorf("alert-management: %v", err)
	}
	// terraform fmt, where the binary is at hand.
	if bin, err := exec.LookPath("terraform"); err == nil {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "armsbot.tf"), out, 0o600); err != nil {
			t.Fatal(err)
		}
		if b, err := exec.Command(bin, "fmt", "-check", dir).CombinedOutput(); err != nil {
			t.Errorf("terraform fmt -check: %v\n%s", err, b)
		}
	}
}

func TestFence(t *testing.T) {
	for in, want := range map[string]string{"plain": "```", "a ``` b": "````", "````x": "`````"} {
		if got := Fence(in); got != want {
			t.Errorf("Fence(%q) = %q, want %q", in, got, want)
		}
	}
}

// A name is data, never a Terraform expression: what would interpolate
// is escaped, and the name reads back as it was.
func TestTerraformNamesAreLiteral(t *testing.T) {
	name := "${file(\"/etc/passwd\")} %{ if true }x"
	out, err := Terraform("legacy", []Contact{{ID: "1", Name: name}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, diags := hclparse.NewParser().ParseHCL(out, "x.tf")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	content, _, _ := f.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "resource", LabelNames: []string{"type", "name"}}}})
	attrs, _ := content.Blocks[0].Body.JustAttributes()
	v, diags := attrs["alert_contact_name"].Expr.Value(nil)
	if diags.HasErrors() || v.AsString() != name {
		t.Errorf("the name reads back as %q (%v)", v.GoString(), diags)
	}
}
