package bot_test

import (
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/armsbot/armsbot"

// pkg is what `go list -json` says of one package.
type pkg struct {
	ImportPath string
	Imports    []string // of its non-test files
}

func listPackages(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string][]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")] = p.Imports
	}
	return pkgs
}

// within reports whether package p is dir or below it ("" is the module).
func within(p string, dirs ...string) bool {
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// The layout shows the architecture (docs/development.md, "Code layout"): the core in
// commands imports no adapter; each vendor's library is imported by its
// own adapter only; the adapters import the core, never its grammar or
// catalogs. Test files aside: they may reach anywhere.
func TestLayoutRules(t *testing.T) {
	t.Parallel()
	pkgs := listPackages(t)
	for _, want := range []string{"commands", "commands/grammar", "commands/catalog", "commands/export", "arms", "bot", "bot/dingtalk", "bot/redisstore", "bot/dispatch", "bot/logctx", "cmd/bot"} {
		if _, ok := pkgs[want]; !ok {
			t.Fatalf("go list does not show package %s; the layout changed without this test", want)
		}
	}
	// Whose library each vendor's is. cmd/loadgen's baselines use the bare
	// libraries on purpose: they measure what the bot's layers cost (one
	// of them what the official SDK's call costs, so it imports the SDK).
	vendors := []struct {
		prefix string
		owners []string
	}{
		{"github.com/aliyun/alibaba-cloud-sdk-go", []string{"arms", "cmd/loadgen"}},
		{"github.com/redis/go-redis", []string{"bot/redisstore", "cmd/loadgen"}},
		{"github.com/alicebob/miniredis", []string{"bot/redisstore"}},
		{"github.com/labstack/", []string{"bot", "cmd/loadgen"}},
		{"github.com/prometheus/", []string{"bot"}},
		{"github.com/open-dingtalk/", []string{"bot/dingtalk"}},
		{"github.com/go-json-experiment/", []string{"bot/dingtalk"}},
		{"github.com/gorilla/websocket", []string{"bot/dingtalk/dingtalktest"}},
		{"github.com/ergochat/readline", []string{"bot"}},
		{"github.com/hashicorp/golang-lru", []string{"bot/dispatch"}},
		{"github.com/hashicorp/hcl", []string{"commands/export"}},
		{"github.com/zclconf/go-cty", []string{"commands/export"}},
		{"github.com/xuri/", []string{"commands/spreadsheet"}},
	}
	for p, imports := range pkgs {
		for _, imp := range imports {
			for _, v := range vendors {
				if strings.HasPrefix(imp, v.prefix) && !slices.Contains(v.owners, p) && !within(p, "bot/redisstore") {
					t.Errorf("%s imports %s; only %v may", p, imp, v.owners)
				}
			}
			own, ok := strings.CutPrefix(imp, module+"/")
			if !ok {
				continue
			}
			switch {
			case within(p, "commands/grammar", "commands/catalog", "commands/export", "commands/spreadsheet"):
				t.Errorf("%s imports %s: the grammar, the catalogs and the file formats are leaves", p, own)
			case within(p, "commands") && !within(own, "commands"):
				t.Errorf("%s imports %s: the core imports no adapter", p, own)
			case within(p, "arms", "bot/redisstore", "bot/dingtalk") && within(own, "commands/grammar", "commands/catalog"):
				t.Errorf("%s imports %s: an adapter uses the core, not its grammar or catalogs", p, own)
			case within(p, "arms", "bot/redisstore", "bot/dingtalk") && (own == "bot" || within(own, "cmd", "bot/dispatch")):
				t.Errorf("%s imports %s: adapters do not import what wires them", p, own)
			case within(p, "bot/dispatch") && (own == "bot" || within(own, "cmd", "arms")):
				t.Errorf("%s imports %s: the dispatcher works with the core, DingTalk's package and the ledger, never with ARMS or what wires it", p, own)
			case within(p, "bot/logctx"):
				t.Errorf("%s imports %s: the log context is a leaf", p, own)
			case within(p, "bot/dingtalk") && !within(own, "bot/dingtalk") && own != "commands":
				t.Errorf("%s imports %s: the DingTalk package knows DingTalk and the core's ports, nothing else", p, own)
			case within(p, "arms") && within(own, "bot"), within(p, "bot/redisstore") && within(own, "arms", "bot/dingtalk"):
				t.Errorf("%s imports %s: adapters do not import each other", p, own)
			}
		}
	}
}

// DingTalk's wire format (field names, header names, paths) is spelled in
// bot/dingtalk only, and every signed callback comes from its builder; the
// fuzz corpus and DingTalk's own sample in testdata are data, not code.
func TestDingTalkWireFormatStaysInItsPackage(t *testing.T) {
	t.Parallel()
	wire := regexp.MustCompile(`"(msgId|msgtype|conversationType|conversationId|senderStaffId|sessionWebhook|sessionWebhookExpiredTime|atUsers|atUserIds|chatbotUserId|robotCode|errcode|errmsg|timestamp|sign)"|x-acs-dingtalk-access-token|/v1\.0/|dingtalk\.Sign\(`)
	root := ".."
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel == filepath.Join("bot", "dingtalk") || rel == ".git" || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || rel == filepath.Join("bot", "layout_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(src), "\n") {
			if m := wire.FindString(line); m != "" {
				t.Errorf("%s:%d spells DingTalk's wire format (%s); use bot/dingtalk", rel, i+1, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
