package bot

import (
	"bytes"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"go.yaml.in/yaml/v3"
)

// envNames returns every environment variable the binary reads, by running
// the configuration of each command with a getenv that records its calls.
func envNames(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	getenv := func(k string) string { seen[k] = true; return "" }
	for _, cmd := range []string{"serve", "shell", "send", "check"} {
		_, _ = parseConfig(cmd, nil, getenv, io.Discard)
	}
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func readYAML(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []map[string]any
	dec := yaml.NewDecoder(f)
	for {
		var d map[string]any
		if err := dec.Decode(&d); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
	return docs
}

// dig walks nested maps and lists: dig(x, "spec", "template", "spec", "containers", 0).
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// render builds the kustomization at dir of fs in-process, as kubectl
// apply -k would, and returns its objects.
func render(t *testing.T, fs filesys.FileSystem, dir string) []map[string]any {
	t.Helper()
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var d map[string]any
		if err := dec.Decode(&d); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
	return docs
}

// variant is one way to deploy, and what it must be.
type variant struct {
	dir               string
	stream, rrsa, mon bool
}

// variants are the ways an operator deploys: the base, the Stream overlay,
// the ACK example (RRSA and monitoring components), and both components on
// the Stream overlay. They are built from a copy of deploy/kubernetes in
// memory, next to which the last one is composed.
func variants(t *testing.T) (filesys.FileSystem, []variant) {
	t.Helper()
	fs := filesys.MakeFsInMemory()
	root := filepath.Join("..", "deploy", "kubernetes")
	err := filepath.WalkDir(root, func(path string, d iofs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		return fs.WriteFile(filepath.Join("/k8s", rel), raw)
	})
	if err != nil {
		t.Fatal(err)
	}
	combo := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: armsbot\n" +
		"resources:\n  - ../stream\ncomponents:\n  - ../components/rrsa\n  - ../components/monitoring\n"
	if err := fs.WriteFile("/k8s/combined/kustomization.yaml", []byte(combo)); err != nil {
		t.Fatal(err)
	}
	return fs, []variant{
		{dir: "/k8s/base"},
		{dir: "/k8s/stream", stream: true},
		{dir: "/k8s/examples/ack", rrsa: true, mon: true},
		{dir: "/k8s/combined", stream: true, rrsa: true, mon: true},
		{dir: "/k8s/examples/operator", mon: true},
	}
}

// No cluster is available here, so the rendered manifests are checked for
// what the binary needs and what the README promises: nothing that could
// overwrite the operator's Secret, a Namespace, a pinned image, probes and
// ports the binary serves, env names it reads, a drain that outlasts
// endpoint propagation, spread across nodes, a NetworkPolicy, no route from
// the internet in Stream mode, no AccessKey with RRSA.
func TestKubernetesVariants(t *testing.T) {
	t.Parallel()
	known := envNames(t)
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	fs, vs := variants(t)
	for _, v := range vs {
		t.Run(filepath.Base(v.dir), func(t *testing.T) {
			kinds := map[string]map[string]any{}
			var policies []map[string]any
			for _, d := range render(t, fs, v.dir) {
				kind := d["kind"].(string)
				if kind == "Secret" || kind == "Ingress" {
					t.Errorf("the manifests hold a %s", kind)
				}
				if kind != "Namespace" && dig(d, "metadata", "namespace") != "armsbot" {
					t.Errorf("%s %v is not in namespace armsbot", kind, dig(d, "metadata", "name"))
				}
				if kind == "ConfigMap" {
					for k, val := range dig(d, "data").(map[string]any) {
						if s, _ := val.(string); k == "REDIS_URL" || strings.Contains(k, "SECRET") || strings.Contains(k, "PASSWORD") ||
							regexp.MustCompile(`://[^/@\s]*:[^/@\s]*@`).MatchString(s) {
							t.Errorf("ConfigMap key %s may hold a credential: it belongs in the Secret", k)
						}
					}
				}
				if kind == "NetworkPolicy" {
					policies = append(policies, d)
				}
				kinds[kind] = d
			}
			for _, k := range []string{"Namespace", "Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "ServiceAccount", "NetworkPolicy"} {
				if kinds[k] == nil {
					t.Fatalf("no %s", k)
				}
			}
			dep, cm := kinds["Deployment"], kinds["ConfigMap"]
			pod := dig(dep, "spec", "template", "spec")
			c := dig(pod, "containers", 0)
			if img, _ := dig(c, "image").(string); !regexp.MustCompile(`:v?\d+\.\d+\.\d+$`).MatchString(img) {
				t.Errorf("image %q is not pinned to a version", img)
			}
			if r := dig(dep, "spec", "replicas"); r != 2 {
				t.Errorf("replicas = %v, want 2", r)
			}
			if p := dig(c, "readinessProbe", "httpGet", "path"); p != "/readyz?exclude=redis,redis-data" {
				t.Errorf("readiness probe %v: want /readyz?exclude=redis,redis-data, so that a Redis outage or data loss keeps pods answering", p)
			}
			if p := dig(c, "livenessProbe", "httpGet", "path"); p != "/healthz" {
				t.Errorf("liveness probe path %v, want /healthz", p)
			}
			ports := map[string]any{}
			for _, p := range dig(c, "ports").([]any) {
				ports[dig(p, "name").(string)] = dig(p, "containerPort")
			}
			if ports["http"] != 8080 || dig(cm, "data", "BOT_LISTEN") != ":8080" || ports["metrics"] != 9090 || dig(cm, "data", "BOT_METRICS_LISTEN") != ":9090" {
				t.Errorf("ports %v do not match BOT_LISTEN %v and BOT_METRICS_LISTEN %v", ports, dig(cm, "data", "BOT_LISTEN"), dig(cm, "data", "BOT_METRICS_LISTEN"))
			}
			if dig(pod, "securityContext", "runAsNonRoot") != true || dig(c, "securityContext", "readOnlyRootFilesystem") != true ||
				dig(c, "securityContext", "allowPrivilegeEscalation") != false {
				t.Error("the pod must run as non-root with a read-only root filesystem and no privilege escalation")
			}
			for _, r := range []string{"requests", "limits"} {
				if dig(c, "resources", r, "memory") == nil || dig(c, "resources", r, "cpu") == nil {
					t.Errorf("resources.%s must set cpu and memory", r)
				}
			}
			// Every variable the manifests set is one the binary reads.
			var names []string
			for k := range dig(cm, "data").(map[string]any) {
				names = append(names, k)
			}
			for _, e := range dig(c, "env").([]any) {
				names = append(names, dig(e, "name").(string))
			}
			for _, n := range names {
				if !slices.Contains(known, n) {
					t.Errorf("the manifests set %s, which the binary does not read", n)
				}
				if v.rrsa && strings.HasPrefix(n, "ALIBABA_CLOUD_ACCESS_KEY") {
					t.Errorf("with RRSA the manifests still set %s", n)
				}
			}
			if dig(cm, "data", "BOT_INGRESS") != map[bool]string{true: "stream", false: "http"}[v.stream] {
				t.Errorf("BOT_INGRESS = %v", dig(cm, "data", "BOT_INGRESS"))
			}
			// The Secret the operator creates holds every key the pods use,
			// as the README's command creates it.
			mount := dig(c, "volumeMounts", 0, "mountPath").(string)
			var keys []string
			for _, it := range dig(pod, "volumes", 0, "secret", "items").([]any) {
				keys = append(keys, dig(it, "key").(string))
			}
			for _, e := range dig(c, "env").([]any) {
				name, _ := dig(e, "name").(string)
				if val, _ := dig(e, "value").(string); strings.HasSuffix(name, "_FILE") && (filepath.Dir(val) != mount || !slices.Contains(keys, filepath.Base(val))) {
					t.Errorf("%s=%s is not a key of the mounted Secret", name, val)
				}
				if ref, ok := dig(e, "valueFrom", "secretKeyRef", "key").(string); ok {
					keys = append(keys, ref)
				}
			}
			for _, k := range keys {
				if !strings.Contains(string(readme), "--from-file="+k+"=") {
					t.Errorf("the README's kubectl create secret command does not create key %s", k)
				}
			}
			// Drain: the pre-stop pause, then BOT_SHUTDOWN_TIMEOUT, inside
			// the grace period.
			pause, _ := dig(c, "lifecycle", "preStop", "sleep", "seconds").(int)
			grace, _ := dig(pod, "terminationGracePeriodSeconds").(int)
			if pause < 5 || grace <= pause+20 {
				t.Errorf("preStop pause %ds and grace %ds: want a pause of 5s or more and a grace longer than it plus BOT_SHUTDOWN_TIMEOUT (20s)", pause, grace)
			}
			if dig(pod, "topologySpreadConstraints", 0, "topologyKey") != "kubernetes.io/hostname" {
				t.Error("replicas are not spread across nodes")
			}
			if dig(kinds["PodDisruptionBudget"], "spec", "minAvailable") != 1 {
				t.Error("the PodDisruptionBudget must keep one replica")
			}
			svc := kinds["Service"]
			if typ := dig(svc, "spec", "type"); typ != nil && typ != "ClusterIP" {
				t.Errorf("Service of type %v reaches outside the cluster", typ)
			}
			// Who may come in: the monitoring namespace to metrics, the
			// ingress controller to the webhook unless in Stream mode.
			rules := map[string]string{}
			for _, np := range policies { // policies add up
				ingress, _ := dig(np, "spec", "ingress").([]any)
				for _, r := range ingress {
					ns, _ := dig(r, "from", 0, "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name").(string)
					rules[dig(r, "ports", 0, "port").(string)] = ns
				}
			}
			if rules["metrics"] != "monitoring" || (rules["http"] != "") == v.stream || len(rules) != map[bool]int{true: 1, false: 2}[v.stream] {
				t.Errorf("NetworkPolicy admits %v", rules)
			}
			if v.rrsa && (dig(kinds["ServiceAccount"], "metadata", "annotations", "pod-identity.alibabacloud.com/role-name") == nil ||
				dig(kinds["Namespace"], "metadata", "labels", "pod-identity.alibabacloud.com/injection") != "on") {
				t.Error("RRSA needs the ServiceAccount's role annotation and the namespace's injection label")
			}
			if v.mon {
				sm, pr := kinds["ServiceMonitor"], kinds["PrometheusRule"]
				if sm == nil || pr == nil || dig(sm, "spec", "endpoints", 0, "port") != "metrics" || dig(svc, "spec", "ports", 1, "name") != "metrics" {
					t.Fatal("monitoring needs a ServiceMonitor on the Service's metrics port, and the rules")
				}
				// kube-prometheus-stack's default selectors (release: its
				// Helm release, installed as kube-prometheus-stack in the
				// namespace monitoring) find them, and may scrape.
				for _, o := range []map[string]any{sm, pr} {
					if l := dig(o, "metadata", "labels", "release"); l != "kube-prometheus-stack" {
						t.Errorf("%s has release label %v, which kube-prometheus-stack's default selector does not match", o["kind"], l)
					}
				}
			}
		})
	}
}

func TestEnvExampleAndCompose(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", "deploy", "bot.env.example"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#? ?([A-Z][A-Z0-9_]+)=`).FindAllStringSubmatch(string(raw), -1) {
		listed[m[1]] = true
	}
	for _, n := range envNames(t) {
		if strings.HasPrefix(n, "BOT_SHELL_") || strings.HasPrefix(n, "BOT_SEND_") {
			continue // the shell's and send's own settings
		}
		if strings.HasPrefix(n, "ALIBABA_CLOUD_") && !strings.HasPrefix(n, "ALIBABA_CLOUD_ACCESS_KEY") && n != "ALIBABA_CLOUD_SECURITY_TOKEN" {
			continue // the SDK's default-chain variables, documented in the README
		}
		if !listed[n] {
			t.Errorf("deploy/bot.env.example does not list %s", n)
		}
	}
	for n := range listed {
		if !slices.Contains(envNames(t), n) {
			t.Errorf("deploy/bot.env.example lists %s, which the binary does not read", n)
		}
	}
	compose := readYAML(t, filepath.Join("..", "deploy", "docker-compose.yml"))[0]
	if dig(compose, "services", "bot", "env_file", 0, "path") != "bot.env" || dig(compose, "services", "redis") == nil {
		t.Error("docker-compose must run the bot with bot.env next to a Redis")
	}
	if cmd := fmt.Sprint(dig(compose, "services", "redis", "command")); !strings.Contains(cmd, "--appendonly yes") {
		t.Errorf("the compose Redis does not persist: %s", cmd)
	}
	if dig(compose, "services", "bot", "env_file", 0, "required") != true {
		t.Error("compose must stop when bot.env is missing, not restart a bot without settings")
	}
	for _, p := range dig(compose, "services", "bot", "ports").([]any) {
		if s := fmt.Sprint(p); !strings.HasPrefix(s, "127.0.0.1:") || strings.Contains(s, "9090") {
			t.Errorf("compose publishes %s: publish the webhook port on loopback only, and never /metrics", s)
		}
	}
	dockerignore, err := os.ReadFile(filepath.Join("..", ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, secretFile := range []string{"deploy/bot.env", "deploy/secrets/"} {
		if !strings.Contains(string(dockerignore), "\n"+secretFile+"\n") {
			t.Errorf(".dockerignore does not keep %s, which holds secrets, out of the image's build context", secretFile)
		}
	}
	ignored, err := os.ReadFile(filepath.Join("..", ".gitignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, secretFile := range []string{"/deploy/bot.env", "/deploy/secrets/"} {
		if !strings.Contains(string(ignored), "\n"+secretFile+"\n") {
			t.Errorf(".gitignore does not cover %s, which holds secrets", secretFile)
		}
	}
	df, err := os.ReadFile(filepath.Join("..", "deploy", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CGO_ENABLED=0", "USER 65532", "HEALTHCHECK", "bot.version=", "bot.commit=", "bot.buildDate="} {
		if !strings.Contains(string(df), want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

// The README's configuration table is the operator's reference: every
// variable the binary reads is in it.
func TestREADMEDocumentsEveryVariable(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range envNames(t) {
		if !strings.Contains(string(raw), "`"+n+"`") {
			t.Errorf("README does not document %s", n)
		}
	}
}

// The alert rules, unit-tested with promtool: every alert fires on a
// sustained failure and stays quiet on an ordinary event
// (deploy/kubernetes/components/monitoring/rules_test.yaml), and the rules
// pass promtool's lint. CI installs promtool and sets
// ARMSBOT_REQUIRE_PROMTOOL, so there this cannot skip.
func TestAlertRulesWithPromtool(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("ARMSBOT_REQUIRE_PROMTOOL") != "" {
			t.Fatal("promtool is not installed")
		}
		t.Skip("promtool is not installed (apt-get install prometheus)")
	}
	dir := filepath.Join("..", "deploy", "kubernetes", "components", "monitoring")
	raw, err := os.ReadFile(filepath.Join(dir, "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Spec map[string]any `yaml:"spec"`
	}
	if err := yaml.Unmarshal(raw, &rule); err != nil {
		t.Fatal(err)
	}
	spec, err := yaml.Marshal(rule.Spec)
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join(dir, "rules_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	for name, b := range map[string][]byte{"rules.yaml": spec, "rules_test.yaml": tests} {
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"check", "rules", "--lint=all", "rules.yaml"}, {"test", "rules", "rules_test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = tmp
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// Every alert has a case.
	for _, name := range regexp.MustCompile(`alert: (\w+)`).FindAllStringSubmatch(string(raw), -1) {
		if !strings.Contains(string(tests), "alertname: "+name[1]) {
			t.Errorf("rules_test.yaml has no case for %s", name[1])
		}
	}
}
