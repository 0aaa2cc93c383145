package bot_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// exported scrapes a running bot and returns the names of the series it
// exports, histograms with their _bucket, _sum and _count.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	h := startBot(t, nil)
	h.say(adminID, "/contact add name=Obs email=obs@example.com")
	names := map[string]bool{}
	for _, line := range strings.Split(h.get("/metrics"), "\n") {
		f := strings.Fields(line)
		if len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			names[f[2]] = true
			if f[3] == "histogram" {
				names[f[2]+"_bucket"], names[f[2]+"_sum"], names[f[2]+"_count"] = true, true, true
			}
		}
	}
	return names
}

var metricName = regexp.MustCompile(`\barmsbot_[a-z0-9_]+`)

// The alert rules and the dashboard query only what the bot exports (and
// Prometheus's own up), and every alert points at its runbook section.
func TestAlertsAndDashboardUseExportedMetrics(t *testing.T) {
	t.Parallel()
	have := exported(t)
	var rules struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert       string
					Expr        string
					Annotations map[string]string
				}
			}
		}
	}
	raw, err := os.ReadFile(filepath.Join("..", "deploy", "kubernetes", "components", "monitoring", "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatal(err)
	}
	runbook, err := os.ReadFile(filepath.Join("..", "docs", "runbook.md"))
	if err != nil {
		t.Fatal(err)
	}
	alerts := 0
	for _, g := range rules.Spec.Groups {
		for _, r := range g.Rules {
			alerts++
			for _, m := range metricName.FindAllString(r.Expr, -1) {
				if !have[m] {
					t.Errorf("alert %s uses %s, which the bot does not export", r.Alert, m)
				}
			}
			anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], "https://github.com/armsbot/armsbot/blob/main/docs/runbook.md#")
			if !ok || !strings.Contains(strings.ToLower(string(runbook)), "\n## "+anchor+"\n") {
				t.Errorf("alert %s has no runbook section (%q)", r.Alert, r.Annotations["runbook_url"])
			}
		}
	}
	if alerts < 10 {
		t.Errorf("%d alerts; the rules file did not parse as expected", alerts)
	}

	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	raw, err = os.ReadFile(filepath.Join("..", "deploy", "grafana", "armsbot.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	var used []string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, m := range metricName.FindAllString(tg.Expr, -1) {
				used = append(used, m)
				if !have[m] {
					t.Errorf("dashboard panel %q uses %s, which the bot does not export", p.Title, m)
				}
			}
		}
	}
	for _, want := range []string{"armsbot_webhooks_total", "armsbot_command_duration_seconds_bucket", "armsbot_arms_calls_total",
		"armsbot_reply_deliveries_total", "armsbot_queue_depth", "armsbot_redis_errors_total"} {
		if !slices.Contains(used, want) {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
}
