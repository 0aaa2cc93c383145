package bot

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/armsbot/armsbot/commands"
	"github.com/armsbot/armsbot/commands/catalog"
)

// Every variable lands in its field; a flag overrides its variable.
func TestConfigEveryVariable(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"BOT_LISTEN": "127.0.0.1:9999", "DINGTALK_APP_SECRET": "appsecret",
		"DINGTALK_SESSION_WEBHOOK_PREFIXES": "https://a.example/x, https://b.example/y", "REDIS_URL": "redis://r:6379/2",
		"BOT_REDIS_PREFIX": "bot2:", "BOT_DEDUPE_TTL": "3h", "BOT_ADMINS": "a1, a2", "BOT_LANG": "en",
		"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIexample", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "aksecret",
		"ALIBABA_CLOUD_SECURITY_TOKEN": "sts", "ARMS_REGION": "cn-shanghai", "ARMS_ENDPOINT": "https://arms.example",
		"ARMS_TIMEOUT": "7s", "ARMS_CLIENTS": "3", "BOT_SYNC_REPLY_BUDGET": "900ms", "BOT_COMMAND_TIMEOUT": "45s",
		"BOT_SHUTDOWN_TIMEOUT": "9s", "BOT_LOG_LEVEL": "debug", "BOT_SANDBOX": "true", "BOT_RATE_LIMIT": "5",
		"BOT_AUDIT_MAXLEN": "500", "DINGTALK_CORP_ID": "corp", "DINGTALK_ROBOT_CODE": "robot",
		"BOT_ALLOWED_CONVERSATIONS": "c1,c2", "DINGTALK_APP_KEY": "appkey", "DINGTALK_OPENAPI_BASE": "https://api.example",
		"BOT_WORKERS": "4", "BOT_QUEUE_SIZE": "8", "BOT_REPLY_TIMEOUT": "1m", "BOT_LEASE": "5s",
		"BOT_BACKLOG": "300", "BOT_REPLY_WORKERS": "6", "BOT_REPLY_QUEUE": "60",
		"BOT_INGRESS": "both", "BOT_STREAM_WATCHDOG": "45s", "BOT_BODY_TIMEOUT": "3s",
		"DINGTALK_OAPI_BASE": "https://oapi.example", "BOT_REDIS_EPHEMERAL": "true", "ARMS_CONTACT_API": "alert-management",
		"BOT_VERIFY_PHONES": "manual", "BOT_VERIFY_REMIND": "6h",
		"BOT_APPROVAL": "group delete, contact add systemnoc=true", "BOT_APPROVAL_TTL": "45m", "BOT_IMPORT_MAX": "50",
	}
	cfg, err := parseConfig("serve", []string{"--arms-timeout", "8s"}, func(k string) string { return vars[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Listen: "127.0.0.1:9999", AppSecret: "appsecret", SessionPrefixes: []string{"https://a.example/x", "https://b.example/y"},
		RedisURL: "redis://r:6379/2", RedisPrefix: "bot2:", ClaimTTL: 3 * time.Hour, Admins: []string{"a1", "a2"}, Lang: catalog.EN,
		SyncBudget: 900 * time.Millisecond, CommandTimeout: 45 * time.Second, ShutdownTimeout: 9 * time.Second, Lease: 5 * time.Second,
		LogLevel: slog.LevelDebug, Sandbox: true, RateLimit: 5, AuditMaxLen: 500, CorpID: "corp", RobotCode: "robot",
		WriteConvs: []string{"c1", "c2"}, AppKey: "appkey", OpenAPIBase: "https://api.example", Workers: 4, QueueSize: 8,
		Backlog: 300, ReplyWorkers: 6, ReplyQueue: 60,
		ReplyTimeout: time.Minute, Ingress: "both", StreamWatchdog: 45 * time.Second, BodyTimeout: 3 * time.Second, OAPIBase: "https://oapi.example",
		RedisEphemeral: true, VerifyAuto: false, VerifyRemind: 6 * time.Hour,
		Approval: []commands.ApprovalRule{{Command: "group delete", When: map[string]string{}},
			{Command: "contact add", When: map[string]string{"systemnoc": "true"}}},
		ApprovalTTL: 45 * time.Minute, ImportMax: 50,
	}
	want.ARMS.Family = "alert-management"
	want.ARMS.AccessKeyID, want.ARMS.AccessKeySecret, want.ARMS.SecurityToken = "LTAIexample", "aksecret", "sts"
	want.ARMS.Region, want.ARMS.Endpoint, want.ARMS.Timeout, want.ARMS.Clients = "cn-shanghai", "https://arms.example", 8*time.Second, 3
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("config\n got %+v\nwant %+v", cfg, want)
	}
}

func TestSecretsFromFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	vars := map[string]string{
		"DINGTALK_APP_SECRET_FILE":             write("app", "from-file\n"),
		"ALIBABA_CLOUD_ACCESS_KEY_ID":          "id",
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET_FILE": write("ak", "ak-from-file"),
		"REDIS_URL_FILE":                       write("redis", "redis://:pass@redis:6379/0\n"),
	}
	get := func(k string) string { return vars[k] }
	cfg, err := parseConfig("serve", nil, get, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AppSecret != "from-file" || cfg.ARMS.AccessKeySecret != "ak-from-file" || cfg.RedisURL != "redis://:pass@redis:6379/0" {
		t.Fatalf("secrets from files: %q %q %q", cfg.AppSecret, cfg.ARMS.AccessKeySecret, cfg.RedisURL)
	}

	vars["DINGTALK_APP_SECRET"] = "also-set"
	vars["ALIBABA_CLOUD_ACCESS_KEY_SECRET_FILE"] = filepath.Join(dir, "missing")
	_, err = parseConfig("serve", nil, get, io.Discard)
	for _, want := range []string{"DINGTALK_APP_SECRET and DINGTALK_APP_SECRET_FILE are both set", "ALIBABA_CLOUD_ACCESS_KEY_SECRET_FILE"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

func TestCredentialSources(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		vars    map[string]string
		want    string // where the credentials come from: key, rrsa, chain
		wantErr string
	}{
		{"access key", map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": "i", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s"}, "key", ""},
		{"half a key", map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": "i"}, "", "go together"},
		{"RRSA, built by the bot", map[string]string{"ALIBABA_CLOUD_ROLE_ARN": "acs:ram::1:role/r", "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": "p", "ALIBABA_CLOUD_OIDC_TOKEN_FILE": "/var/run/token", "BOT_STS_ENDPOINT": "sts-vpc.cn-hangzhou.aliyuncs.com"}, "rrsa", ""},
		{"RRSA half injected", map[string]string{"ALIBABA_CLOUD_ROLE_ARN": "acs:ram::1:role/r"}, "", "no Alibaba Cloud credentials"},
		{"an access key wins over RRSA", map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": "i", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s", "ALIBABA_CLOUD_ROLE_ARN": "r", "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": "p", "ALIBABA_CLOUD_OIDC_TOKEN_FILE": "t"}, "key", ""},
		{"ECS RAM role", map[string]string{"ALIBABA_CLOUD_ECS_METADATA": "armsbot"}, "chain", ""},
		{"nothing", map[string]string{}, "", "no Alibaba Cloud credentials"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.vars["DINGTALK_APP_SECRET"] = "x"
			cfg, err := parseConfig("serve", nil, func(k string) string { return tc.vars[k] }, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			got := "key"
			switch {
			case cfg.ARMS.OIDC != nil:
				got = "rrsa"
			case cfg.ARMS.DefaultChain:
				got = "chain"
			}
			if err != nil || got != tc.want {
				t.Fatalf("err=%v, credentials from %s, want %s", err, got, tc.want)
			}
			if got == "rrsa" && (cfg.ARMS.OIDC.TokenFile != "/var/run/token" || cfg.ARMS.OIDC.STSEndpoint != "sts-vpc.cn-hangzhou.aliyuncs.com") {
				t.Errorf("RRSA settings %+v", cfg.ARMS.OIDC)
			}
		})
	}
}

func TestStartupConfigLineRedactsSecrets(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"DINGTALK_APP_SECRET": "very-secret-app", "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI5tAbCdEfGh",
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "very-secret-ak", "REDIS_URL": "redis://user:redis-password@r:6379/0"}
	cfg, err := parseConfig("serve", nil, func(k string) string { return vars[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	logConfig(slog.New(slog.NewJSONHandler(&b, nil)), cfg)
	line := b.String()
	for _, secret := range []string{"very-secret-app", "very-secret-ak", "redis-password", "LTAI5tAbCdEfGh"} {
		if strings.Contains(line, secret) {
			t.Errorf("config line leaks %q: %s", secret, line)
		}
	}
	for _, want := range []string{`"dingtalk_app_secret":"set"`, `"arms_credentials":"access key LTAI****EfGh"`, "user:xxxxx@r:6379"} {
		if !strings.Contains(line, want) {
			t.Errorf("config line lacks %s: %s", want, line)
		}
	}
	if strings.Count(line, "\n") != 1 {
		t.Errorf("config is not one line: %s", line)
	}
}
