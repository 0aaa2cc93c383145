package bot_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/armsbot/armsbot/arms/armstest"
)

// rrsa is the environment of a pod with RRSA: no AccessKey, the role and
// the OIDC token file, and STS at the stand-in, whose certificate the
// process trusts.
func rrsa(t *testing.T, sts *armstest.STS) map[string]string {
	t.Helper()
	dir := t.TempDir()
	token, ca := filepath.Join(dir, "token"), filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(token, []byte("oidc-token-of-the-pod"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, sts.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"ALIBABA_CLOUD_ACCESS_KEY_ID": "", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "",
		"ALIBABA_CLOUD_ROLE_ARN":          "acs:ram::1234567890123456:role/armsbot",
		"ALIBABA_CLOUD_OIDC_PROVIDER_ARN": "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c0",
		"ALIBABA_CLOUD_OIDC_TOKEN_FILE":   token,
		"BOT_STS_ENDPOINT":                sts.Host,
		"SSL_CERT_FILE":                   ca,
	}
}

// With RRSA, a failed token exchange (STS in an outage as the pod starts)
// is tried again at STS: the bot recovers by itself, where the SDK's
// default chain would only ever ask ECS instance metadata after it.
func TestRRSARecoversAfterAFailedExchange(t *testing.T) {
	t.Parallel()
	sts := armstest.NewSTS("oidc-token-of-the-pod")
	defer sts.Close()
	sts.FailNext(2)
	h := world(t)
	p := h.spawn(rrsa(t, sts))
	r := p.say(adminID, "/contact add name=Rrsa email=rrsa@example.com")
	contains(t, "reply", r.Markdown.Text, "ContactId")
	if ok, failed := sts.Exchanges(); ok != 1 || failed != 2 {
		t.Errorf("STS saw %d exchanges and %d failures, want 1 after 2", ok, failed)
	}
	contains(t, "logs", p.logs.String(), `"rrsa role acs:ram::1234567890123456:role/armsbot"`)
	if calls := h.arms.Calls("CreateAlertContact"); len(calls) != 1 || calls[0].Params.Get("SecurityToken") != "armstest-sts-token" {
		t.Errorf("creates %+v, want one signed with the STS token", calls)
	}
}

// bot check names the credential provider and, when it fails, why.
func TestCheckNamesTheCredentialProvider(t *testing.T) {
	t.Parallel()
	sts := armstest.NewSTS("oidc-token-of-the-pod")
	defer sts.Close()
	h := world(t)
	vars := h.vars(rrsa(t, sts))
	run := func() (string, error) {
		cmd := exec.Command(botBinary(t), "check")
		cmd.Env = os.Environ()
		for k, v := range vars {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, err := cmd.Output()
		return string(out), err
	}
	out, err := run()
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	contains(t, "check", out, "ok   creds     oidc_role_arn: credentials issued", "ok   arms")
	sts.FailNext(100)
	out, err = run()
	if err == nil || !strings.Contains(out, "FAIL creds     credentials from oidc_role_arn") || !strings.Contains(out, "ServiceUnavailable") {
		t.Errorf("check with STS down: %v\n%s", err, out)
	}
	lacks(t, "check", out, "ecs_ram_role")
}
