package bot

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

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

// No cluster is available here, so the manifests are checked for what the
// binary needs: probes on its health endpoints, its port, env names it
// actually reads, and the hardening the README promises.
func TestKubernetesManifests(t *testing.T) {
	dir := filepath.Join("..", "deploy", "kubernetes", "base")
	known := envNames(t)
	kinds := map[string]map[string]any{}
	kust := readYAML(t, filepath.Join(dir, "kustomization.yaml"))[0]
	for _, r := range kust["resources"].([]any) {
		for _, d := range readYAML(t, filepath.Join(dir, r.(string))) {
			kinds[d["kind"].(string)] = d
		}
	}
	for _, k := range []string{"Deployment", "Service", "Secret", "ConfigMap", "PodDisruptionBudget", "ServiceAccount"} {
		if kinds[k] == nil {
			t.Errorf("kustomization lacks a %s", k)
		}
	}
	dep := kinds["Deployment"]
	if r := dig(dep, "spec", "replicas"); r != 2 {
		t.Errorf("replicas = %v, want 2", r)
	}
	c := dig(dep, "spec", "template", "spec", "containers", 0)
	if p := dig(c, "readinessProbe", "httpGet", "path"); p != "/readyz" {
		t.Errorf("readiness probe path %v, want /readyz", p)
	}
	if p := dig(c, "livenessProbe", "httpGet", "path"); p != "/healthz" {
		t.Errorf("liveness probe path %v, want /healthz", p)
	}
	if p := dig(c, "ports", 0, "containerPort"); p != 8080 {
		t.Errorf("containerPort %v, want 8080", p)
	}
	cm := kinds["ConfigMap"]
	if l := dig(cm, "data", "BOT_LISTEN"); l != ":8080" {
		t.Errorf("ConfigMap BOT_LISTEN %v does not match containerPort 8080", l)
	}
	if dig(dep, "spec", "template", "spec", "securityContext", "runAsNonRoot") != true ||
		dig(c, "securityContext", "readOnlyRootFilesystem") != true ||
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
			t.Errorf("manifest sets %s, which the binary does not read", n)
		}
	}
	// Secret files point into the mounted secret, at keys the Secret has.
	secretKeys := dig(kinds["Secret"], "stringData").(map[string]any)
	mount := dig(c, "volumeMounts", 0, "mountPath").(string)
	for _, e := range dig(c, "env").([]any) {
		name, _ := dig(e, "name").(string)
		if strings.HasSuffix(name, "_FILE") {
			v := dig(e, "value").(string)
			if filepath.Dir(v) != mount || secretKeys[filepath.Base(v)] == nil {
				t.Errorf("%s=%s is not a key of the mounted Secret", name, v)
			}
		}
		if ref := dig(e, "valueFrom", "secretKeyRef", "key"); ref != nil && secretKeys[ref.(string)] == nil {
			t.Errorf("%s refers to missing Secret key %v", name, ref)
		}
	}
	if g := dig(dep, "spec", "template", "spec", "terminationGracePeriodSeconds"); g == nil || g.(int) <= 20 {
		t.Errorf("terminationGracePeriodSeconds %v must exceed BOT_SHUTDOWN_TIMEOUT (20s)", g)
	}
	if dig(kinds["PodDisruptionBudget"], "spec", "minAvailable") != 1 {
		t.Error("the PodDisruptionBudget must keep one replica")
	}
	if dig(kinds["Service"], "spec", "ports", 0, "targetPort") != "http" {
		t.Error("the Service must target the named port http")
	}
}

// The stream variant is the base with BOT_INGRESS=stream and nothing that
// lets the internet in.
func TestKubernetesStreamOverlay(t *testing.T) {
	dir := filepath.Join("..", "deploy", "kubernetes", "stream")
	kust := readYAML(t, filepath.Join(dir, "kustomization.yaml"))[0]
	if !slices.Contains(kust["resources"].([]any), any("../base")) || kust["namespace"] != "armsbot" {
		t.Errorf("the overlay must build on ../base in namespace armsbot: %v", kust)
	}
	var docs []map[string]any
	for _, r := range kust["resources"].([]any) {
		if r != "../base" {
			docs = append(docs, readYAML(t, filepath.Join(dir, r.(string)))...)
		}
	}
	var ingress any
	for _, p := range kust["patches"].([]any) {
		for _, d := range readYAML(t, filepath.Join(dir, dig(p, "path").(string))) {
			if d["kind"] == "ConfigMap" && dig(d, "metadata", "name") == "armsbot-config" {
				ingress = dig(d, "data", "BOT_INGRESS")
			}
		}
	}
	if ingress != "stream" {
		t.Errorf("the overlay sets BOT_INGRESS=%v, want stream", ingress)
	}
	base := filepath.Join("..", "deploy", "kubernetes", "base")
	for _, r := range readYAML(t, filepath.Join(base, "kustomization.yaml"))[0]["resources"].([]any) {
		docs = append(docs, readYAML(t, filepath.Join(base, r.(string)))...)
	}
	policy := false
	for _, d := range docs {
		switch d["kind"] {
		case "Ingress":
			t.Error("the stream variant must not have an Ingress")
		case "Service":
			if typ := dig(d, "spec", "type"); typ != nil && typ != "ClusterIP" {
				t.Errorf("Service of type %v reaches outside the cluster", typ)
			}
		case "NetworkPolicy":
			from := dig(d, "spec", "ingress", 0, "from", 0)
			policy = len(dig(d, "spec", "ingress").([]any)) == 1 && dig(from, "namespaceSelector") != nil && dig(from, "ipBlock") == nil
		}
	}
	if !policy {
		t.Error("the stream variant needs a NetworkPolicy that admits the cluster only")
	}
}

func TestEnvExampleAndCompose(t *testing.T) {
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
	if dig(compose, "services", "bot", "env_file") != "bot.env" || dig(compose, "services", "redis") == nil {
		t.Error("docker-compose must run the bot with bot.env next to a Redis")
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
