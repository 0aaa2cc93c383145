package bot

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/armsbot/armsbot/arms"
	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/redisstore"
	"github.com/armsbot/armsbot/commands"
	"github.com/armsbot/armsbot/commands/catalog"
)

// Config is everything the bot reads from its environment and flags.
type Config struct {
	Listen          string
	AppSecret       string
	SessionPrefixes []string
	RedisURL        string
	RedisPrefix     string
	RedisEphemeral  bool                    // the operator accepts a Redis that keeps nothing
	VerifyAuto      bool                    // BOT_VERIFY_PHONES=auto
	VerifyRemind    time.Duration           // 0: no reminders
	Approval        []commands.ApprovalRule // BOT_APPROVAL
	ApprovalTTL     time.Duration
	ImportMax       int    // BOT_IMPORT_MAX
	CardTemplate    string // DINGTALK_CARD_TEMPLATE_ID: decisions as cards
	PublicURL       string // BOT_PUBLIC_URL: where DingTalk reaches the HTTP card route
	ClaimTTL        time.Duration
	Admins          []string
	Lang            catalog.Lang
	ARMS            arms.Config
	SyncBudget      time.Duration
	BodyTimeout     time.Duration
	CommandTimeout  time.Duration
	ShutdownTimeout time.Duration
	Lease           time.Duration
	Ingress         string // http, stream or both
	StreamWatchdog  time.Duration
	LogLevel        slog.Level
	Sandbox         bool
	RateLimit       int
	AuditMaxLen     int
	CorpID          string
	RobotCode       string
	WriteConvs      []string
	AppKey          string
	OpenAPIBase     string
	OAPIBase        string
	Workers         int
	QueueSize       int
	Backlog         int
	ReplyWorkers    int
	ReplyQueue      int
	ReplyTimeout    time.Duration
	DebugListen     string
	MetricsListen   string

	// send only
	SendURL         string
	SendAs          string
	SendListen      string
	SendSessionBase string
	SendWait        time.Duration
	SendExpect      string
	Text            string

	// shell only
	ShellUser  string
	ShellGroup bool
	ShellAdmin bool
	ShellLog   string
}

// binder declares each setting once: a flag whose default comes from its
// environment variable. Problems are collected so that every bad value is
// reported at once.
type binder struct {
	fs       *flag.FlagSet
	getenv   func(string) string
	problems []error
	after    []func()
}

func (b *binder) env(name, def string) string {
	if v := b.getenv(name); v != "" {
		return v
	}
	return def
}

func (b *binder) str(p *string, flagName, env, def, usage string) {
	b.fs.StringVar(p, flagName, b.env(env, def), usage+" ("+env+")")
}

// secret is str plus NAME_FILE: the secret may come from a mounted file,
// as Kubernetes secrets usually do. Giving both is an error.
func (b *binder) secret(p *string, flagName, env, usage string) {
	b.str(p, flagName, env, "", usage)
	var file string
	b.str(&file, flagName+"-file", env+"_FILE", "", "file holding "+env)
	b.after = append(b.after, func() {
		if file == "" {
			return
		}
		if *p != "" {
			b.problems = append(b.problems, fmt.Errorf("%s and %s_FILE are both set; give one", env, env))
			return
		}
		raw, err := os.ReadFile(file)
		if err != nil {
			b.problems = append(b.problems, fmt.Errorf("%s_FILE: %w", env, err))
			return
		}
		*p = strings.TrimRight(string(raw), "\r\n")
		if *p == "" {
			b.problems = append(b.problems, fmt.Errorf("%s_FILE %s is empty", env, file))
		}
	})
}

func (b *binder) list(p *[]string, flagName, env, def, usage string) {
	var raw string
	b.str(&raw, flagName, env, def, usage)
	b.after = append(b.after, func() { *p = splitList(raw) })
}

func (b *binder) dur(p *time.Duration, flagName, env string, def time.Duration, usage string) {
	d := def
	if v := b.getenv(env); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			b.problems = append(b.problems, fmt.Errorf("%s=%q is not a duration such as 10s or 2h", env, v))
			d = def
		}
	}
	b.fs.DurationVar(p, flagName, d, usage+" ("+env+")")
}

func (b *binder) int(p *int, flagName, env string, def int, usage string) {
	n := def
	if v := b.getenv(env); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.problems = append(b.problems, fmt.Errorf("%s=%q is not a whole number", env, v))
			n = def
		}
	}
	b.fs.IntVar(p, flagName, n, usage+" ("+env+")")
}

func (b *binder) bool(p *bool, flagName, env string, def bool, usage string) {
	v := def
	if s := b.getenv(env); s != "" {
		var err error
		if v, err = strconv.ParseBool(s); err != nil {
			b.problems = append(b.problems, fmt.Errorf("%s=%q is not true or false", env, s))
			v = def
		}
	}
	b.fs.BoolVar(p, flagName, v, usage+" ("+env+")")
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseConfig reads the settings of subcommand cmd from args and getenv.
func parseConfig(cmd string, args []string, getenv func(string) string, stderr io.Writer) (*Config, error) {
	c := &Config{}
	fs := flag.NewFlagSet("bot "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	b := &binder{fs: fs, getenv: getenv}

	var lang, level string
	b.str(&c.Listen, "listen", "BOT_LISTEN", ":8080", "address the webhook server listens on")
	b.secret(&c.AppSecret, "app-secret", "DINGTALK_APP_SECRET", "DingTalk app secret, verifies callback signatures")
	b.list(&c.SessionPrefixes, "session-webhook-prefixes", "DINGTALK_SESSION_WEBHOOK_PREFIXES", dingtalk.DefaultSessionPrefix, "comma-separated URL prefixes a sessionWebhook must start with")
	b.secret(&c.RedisURL, "redis-url", "REDIS_URL", "Redis URL (with its password, if any); empty runs an embedded, non-persistent store")
	b.str(&c.RedisPrefix, "redis-prefix", "BOT_REDIS_PREFIX", "armsbot:", "prefix of every Redis key")
	b.bool(&c.RedisEphemeral, "redis-ephemeral", "BOT_REDIS_EPHEMERAL", false, "serve even when Redis keeps nothing across a restart (no AOF, no snapshots); the README says what is lost")
	b.dur(&c.ClaimTTL, "dedupe-ttl", "BOT_DEDUPE_TTL", redisstore.MinClaimTTL, "how long a message id is remembered")
	b.list(&c.Admins, "admins", "BOT_ADMINS", "", "comma-separated staff ids holding every permission")
	b.str(&lang, "lang", "BOT_LANG", "zh", "reply language, zh or en")
	b.str(&c.ARMS.AccessKeyID, "access-key-id", "ALIBABA_CLOUD_ACCESS_KEY_ID", "", "Alibaba Cloud AccessKey id")
	b.secret(&c.ARMS.AccessKeySecret, "access-key-secret", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "Alibaba Cloud AccessKey secret")
	b.str(&c.ARMS.SecurityToken, "security-token", "ALIBABA_CLOUD_SECURITY_TOKEN", "", "STS security token, with temporary AccessKeys")
	b.str(&c.ARMS.Region, "arms-region", "ARMS_REGION", "cn-hangzhou", "ARMS region")
	b.str(&c.ARMS.Endpoint, "arms-endpoint", "ARMS_ENDPOINT", "", "ARMS endpoint URL overriding https://arms.<region>.aliyuncs.com")
	b.dur(&c.ARMS.Timeout, "arms-timeout", "ARMS_TIMEOUT", 10*time.Second, "timeout of one ARMS call")
	b.int(&c.ARMS.Clients, "arms-clients", "ARMS_CLIENTS", 8, "ARMS calls that may run at once")
	var family, verifyPhones string
	b.str(&family, "arms-contact-api", "ARMS_CONTACT_API", string(arms.Legacy), "ARMS's contact API family: legacy (CreateAlertContact) or alert-management (CreateOrUpdateContact, with phone verification)")
	b.str(&verifyPhones, "verify-phones", "BOT_VERIFY_PHONES", "auto", "alert-management: auto sends ARMS's verification link when a contact gets a phone; manual leaves it to /contact verify")
	b.dur(&c.VerifyRemind, "verify-remind", "BOT_VERIFY_REMIND", 24*time.Hour, "alert-management: remind whoever added a contact, once per this period, while its phone is not verified; 0 turns reminders off")
	var approval string
	b.str(&approval, "approval", "BOT_APPROVAL", "", "comma-separated commands (with key=value conditions) or scopes that wait for a second person's approval, e.g. \"group delete,contact add systemnoc=true,contact.force\"")
	b.dur(&c.ApprovalTTL, "approval-ttl", "BOT_APPROVAL_TTL", commands.ApprovalTTL, "how long a request waits for its approval")
	b.int(&c.ImportMax, "import-max", "BOT_IMPORT_MAX", commands.ImportMax, "how many rows one /contact import takes")
	b.str(&c.CardTemplate, "card-template-id", "DINGTALK_CARD_TEMPLATE_ID", "", "the card template (deploy/dingtalk/confirm-card.json, imported and published) that shows confirmations and approvals with buttons; empty: text and typed codes only")
	b.str(&c.PublicURL, "public-url", "BOT_PUBLIC_URL", "", "HTTP mode with cards: the https base URL where DingTalk reaches this bot, to which card clicks are sent")
	var stsEndpoint string
	b.str(&stsEndpoint, "sts-endpoint", "BOT_STS_ENDPOINT", "", "RRSA: the STS host[:port] to exchange the pod's OIDC token at (empty: the SDK's, by ALIBABA_CLOUD_STS_REGION)")
	b.dur(&c.SyncBudget, "sync-reply-budget", "BOT_SYNC_REPLY_BUDGET", 1500*time.Millisecond, "how long the webhook waits for a command before replying later")
	b.dur(&c.BodyTimeout, "body-timeout", "BOT_BODY_TIMEOUT", 5*time.Second, "how long the webhook waits for a request's body once its headers arrived (then 408)")
	b.dur(&c.CommandTimeout, "command-timeout", "BOT_COMMAND_TIMEOUT", time.Minute, "how long one command may run in all")
	b.dur(&c.ShutdownTimeout, "shutdown-timeout", "BOT_SHUTDOWN_TIMEOUT", 20*time.Second, "how long shutdown waits for in-flight commands before handing them over")
	b.str(&c.Ingress, "ingress", "BOT_INGRESS", "http", "how DingTalk reaches the bot: http (a webhook), stream (an outbound WebSocket) or both")
	b.dur(&c.StreamWatchdog, "stream-watchdog", "BOT_STREAM_WATCHDOG", 90*time.Second, "stream ingress: the longest a dead connection goes unnoticed (a third of it quiet, then a WebSocket ping the gateway must answer within 5s)")
	b.dur(&c.Lease, "lease", "BOT_LEASE", 15*time.Second, "how long a process's messages stay its own after it stops renewing them (it died): then another replica finishes them")
	b.str(&level, "log-level", "BOT_LOG_LEVEL", "info", "debug, info, warn or error")
	b.bool(&c.Sandbox, "sandbox", "BOT_SANDBOX", false, "use an in-process ARMS stand-in instead of Alibaba Cloud")
	b.str(&c.AppKey, "app-key", "DINGTALK_APP_KEY", "", "DingTalk app key (Client ID), for the OpenAPI fallback when a sessionWebhook has expired")
	b.str(&c.OAPIBase, "oapi-base", "DINGTALK_OAPI_BASE", dingtalk.DefaultOAPIBase, "base URL of DingTalk's older API host, where the organisation directory is (/contact add me)")
	b.str(&c.OpenAPIBase, "openapi-base", "DINGTALK_OPENAPI_BASE", dingtalk.DefaultOpenAPIBase, "base URL of the DingTalk OpenAPI")
	b.int(&c.Workers, "workers", "BOT_WORKERS", 16, "commands that may run at once")
	b.int(&c.QueueSize, "queue-size", "BOT_QUEUE_SIZE", 256, "commands that may wait for a worker in memory; beyond that they wait in the backlog (BOT_BACKLOG)")
	b.int(&c.Backlog, "backlog", "BOT_BACKLOG", 2000, "commands that may wait for a worker beyond the in-memory queues, across all replicas (counted in Redis); beyond that senders are told the bot is busy")
	b.int(&c.ReplyWorkers, "reply-workers", "BOT_REPLY_WORKERS", 16, "replies that may be posted at once, apart from the commands' workers")
	b.int(&c.ReplyQueue, "reply-queue", "BOT_REPLY_QUEUE", 1024, "replies that may wait for a reply worker; beyond that a reply is handed over for a sweep to post")
	b.dur(&c.ReplyTimeout, "reply-timeout", "BOT_REPLY_TIMEOUT", 2*time.Minute, "how long a late reply is retried before it is given up")
	b.str(&c.DebugListen, "debug-listen", "BOT_DEBUG_LISTEN", "", "address of a separate listener for /debug/pprof (off when empty; keep it private)")
	b.str(&c.MetricsListen, "metrics-listen", "BOT_METRICS_LISTEN", "", "address of a separate listener for /metrics (empty: /metrics is served on BOT_LISTEN)")
	b.int(&c.RateLimit, "rate-limit", "BOT_RATE_LIMIT", 20, "commands per user per minute, across replicas; 0 turns the limit off")
	b.int(&c.AuditMaxLen, "audit-maxlen", "BOT_AUDIT_MAXLEN", 10000, "audit entries kept in Redis (approximate)")
	b.str(&c.CorpID, "corp-id", "DINGTALK_CORP_ID", "", "when set, reject messages from other organisations (chatbotCorpId/senderCorpId)")
	b.str(&c.RobotCode, "robot-code", "DINGTALK_ROBOT_CODE", "", "when set, reject messages for other robots")
	b.list(&c.WriteConvs, "allowed-conversations", "BOT_ALLOWED_CONVERSATIONS", "", "comma-separated conversation ids where commands that change things may run; empty allows all")
	if cmd == "send" {
		b.str(&c.SendURL, "url", "BOT_SEND_URL", "http://127.0.0.1:8080/dingtalk/webhook", "webhook URL of the running bot")
		b.str(&c.SendAs, "as", "BOT_SEND_AS", "", "staff id to send as (default: the first of BOT_ADMINS)")
		b.str(&c.SendListen, "session-listen", "BOT_SEND_SESSION_LISTEN", "127.0.0.1:0", "where to receive an asynchronous reply")
		b.str(&c.SendSessionBase, "session-base", "BOT_SEND_SESSION_BASE", "", "URL the bot reaches the receiver at (default: http://<session-listen>)")
		b.bool(&c.ShellGroup, "group", "BOT_SEND_GROUP", true, "send as a group-chat message")
		b.dur(&c.SendWait, "wait", "BOT_SEND_WAIT", 30*time.Second, "how long to wait for an asynchronous reply")
		b.str(&c.SendExpect, "expect", "BOT_SEND_EXPECT", "ok", "the outcome that makes send exit 0: ok, invalid, denied, not_found, exists, error, help, dry_run, confirm, approval, or any")
	}
	if cmd == "shell" {
		b.str(&c.ShellUser, "user", "BOT_SHELL_USER", "shell-admin", "staff id the shell acts as")
		b.bool(&c.ShellGroup, "group", "BOT_SHELL_GROUP", false, "act as in a group chat (replies masked)")
		b.bool(&c.ShellAdmin, "admin", "BOT_SHELL_ADMIN", true, "make the shell user an admin")
		b.str(&c.ShellLog, "log", "BOT_SHELL_LOG", "", "file the shell writes its log to (at BOT_LOG_LEVEL); only errors reach the console")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case cmd == "send" && fs.NArg() == 1:
		c.Text = fs.Arg(0)
	case cmd == "send":
		b.problems = append(b.problems, errors.New(`give the message as one argument: bot send "/contact list"`))
	case fs.NArg() > 0:
		b.problems = append(b.problems, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	for _, f := range b.after {
		f()
	}
	if c.ARMS.AccessKeyID == "" && c.ARMS.AccessKeySecret == "" {
		if role, provider, token := getenv("ALIBABA_CLOUD_ROLE_ARN"), getenv("ALIBABA_CLOUD_OIDC_PROVIDER_ARN"), getenv("ALIBABA_CLOUD_OIDC_TOKEN_FILE"); role != "" && provider != "" && token != "" {
			c.ARMS.OIDC = &arms.OIDC{RoleARN: role, ProviderARN: provider, TokenFile: token, STSEndpoint: stsEndpoint}
		} else {
			c.ARMS.DefaultChain = defaultChainConfigured(getenv)
		}
	}
	var err error
	if c.ARMS.Family, err = arms.ParseFamily(family); err != nil {
		b.problems = append(b.problems, fmt.Errorf("ARMS_CONTACT_API: %w", err))
	}
	switch verifyPhones {
	case "auto", "manual":
		c.VerifyAuto = verifyPhones == "auto"
	default:
		b.problems = append(b.problems, fmt.Errorf("BOT_VERIFY_PHONES=%q must be auto or manual", verifyPhones))
	}
	if c.Approval, err = commands.ParseApprovalRules(approval); err != nil {
		b.problems = append(b.problems, fmt.Errorf("BOT_APPROVAL: %w", err))
	}
	if c.ImportMax < 1 || c.ImportMax > 1000 {
		b.problems = append(b.problems, errors.New("BOT_IMPORT_MAX must be between 1 and 1000"))
	}
	if c.ApprovalTTL < time.Minute || c.ApprovalTTL > 24*time.Hour {
		b.problems = append(b.problems, errors.New("BOT_APPROVAL_TTL must be between 1m and 24h"))
	}
	if c.VerifyRemind < 0 {
		b.problems = append(b.problems, errors.New("BOT_VERIFY_REMIND must not be negative (0 turns reminders off)"))
	}
	if c.Lang, err = catalog.Parse(lang); err != nil {
		b.problems = append(b.problems, fmt.Errorf("BOT_LANG: %w", err))
	}
	if err := c.LogLevel.UnmarshalText([]byte(level)); err != nil {
		b.problems = append(b.problems, fmt.Errorf("BOT_LOG_LEVEL=%q is not debug, info, warn or error", level))
	}
	b.problems = append(b.problems, c.validate(cmd)...)
	return c, errors.Join(b.problems...)
}

// warnings are what serve warns about at start and check prints: settings
// that run, but probably not as meant.
func (c *Config) warnings() []string {
	var w []string
	if len(c.Admins) == 0 {
		w = append(w, "BOT_ADMINS is empty: nobody holds a permission, and nobody can grant one from chat; every command but /help and /whoami is refused")
	}
	if strings.HasPrefix(c.ARMS.Endpoint, "http://") && !c.Sandbox {
		w = append(w, "ARMS_ENDPOINT uses plain http: signed requests travel unencrypted")
	}
	if c.AppKey == "" && c.Ingress == "http" {
		w = append(w, "DINGTALK_APP_KEY is not set: a reply whose sessionWebhook has expired cannot go out through the OpenAPI, and /contact add me cannot read the directory")
	}
	return w
}

// defaultChainConfigured reports whether the environment names a credential
// source of the SDK's default chain other than an AccessKey pair or RRSA
// (which the bot builds itself): an ECS RAM role, a credentials URI,
// profile or file.
func defaultChainConfigured(getenv func(string) string) bool {
	for _, k := range []string{"ALIBABA_CLOUD_ECS_METADATA", "ALIBABA_CLOUD_CREDENTIALS_URI", "ALIBABA_CLOUD_CREDENTIALS_FILE", "ALIBABA_CLOUD_PROFILE"} {
		if getenv(k) != "" {
			return true
		}
	}
	return false
}

// validate reports what cmd cannot run with. check validates everything
// serve needs, with the same code: it says ok only for what serve takes.
func (c *Config) validate(cmd string) []error {
	var p []error
	serving := cmd == "serve" || cmd == "check"
	if (serving || cmd == "send") && c.AppSecret == "" {
		p = append(p, errors.New("DINGTALK_APP_SECRET is required (or DINGTALK_APP_SECRET_FILE): it verifies DingTalk's callbacks and opens the stream"))
	}
	if serving && !c.Sandbox {
		switch id, secret := c.ARMS.AccessKeyID != "", c.ARMS.AccessKeySecret != ""; {
		case id != secret:
			p = append(p, errors.New("ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET go together; one is missing"))
		case !id && !c.ARMS.DefaultChain && c.ARMS.OIDC == nil:
			p = append(p, errors.New("no Alibaba Cloud credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, "+
				"or RRSA (ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN, ALIBABA_CLOUD_OIDC_TOKEN_FILE), "+
				"or ALIBABA_CLOUD_ECS_METADATA for an ECS RAM role, or run with --sandbox"))
		}
	}
	if cmd == "send" && !slices.Contains([]string{"ok", "invalid", "denied", "not_found", "exists", "error", "help", "dry_run", "confirm", "approval", "any"}, c.SendExpect) {
		p = append(p, fmt.Errorf("BOT_SEND_EXPECT=%q must be ok, invalid, denied, not_found, exists, error, help, dry_run, confirm, approval or any", c.SendExpect))
	}
	if c.CardTemplate != "" && serving {
		if c.AppKey == "" {
			p = append(p, errors.New("DINGTALK_CARD_TEMPLATE_ID needs DINGTALK_APP_KEY: cards are sent through the OpenAPI"))
		}
		if c.Ingress == "http" && c.PublicURL == "" {
			p = append(p, errors.New("DINGTALK_CARD_TEMPLATE_ID in HTTP mode needs BOT_PUBLIC_URL, the https address DingTalk reaches this bot at, for card clicks (Stream mode needs none)"))
		}
	}
	if u := c.PublicURL; u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		p = append(p, fmt.Errorf("BOT_PUBLIC_URL=%q must be an http(s) URL", u))
	}
	if c.AppKey != "" && c.AppSecret == "" {
		p = append(p, errors.New("DINGTALK_APP_KEY needs DINGTALK_APP_SECRET"))
	}
	for _, a := range c.Admins {
		if !commands.ValidStaffID(a) {
			p = append(p, fmt.Errorf("BOT_ADMINS: %q is not a staff id (up to 64 letters, digits, '.', '_' or '-')", a))
		}
	}
	if c.ClaimTTL < redisstore.MinClaimTTL {
		p = append(p, fmt.Errorf("BOT_DEDUPE_TTL must be at least %s, longer than DingTalk's re-delivery window", redisstore.MinClaimTTL))
	}
	if len(c.SessionPrefixes) == 0 {
		p = append(p, errors.New("DINGTALK_SESSION_WEBHOOK_PREFIXES must name at least one prefix"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"ARMS_TIMEOUT", c.ARMS.Timeout}, {"BOT_SYNC_REPLY_BUDGET", c.SyncBudget}, {"BOT_BODY_TIMEOUT", c.BodyTimeout}, {"BOT_COMMAND_TIMEOUT", c.CommandTimeout}, {"BOT_SHUTDOWN_TIMEOUT", c.ShutdownTimeout}, {"BOT_REPLY_TIMEOUT", c.ReplyTimeout}} {
		if d.v <= 0 {
			p = append(p, fmt.Errorf("%s must be positive", d.name))
		}
	}
	switch c.Ingress {
	case "http", "stream", "both":
	default:
		p = append(p, fmt.Errorf("BOT_INGRESS=%q must be http, stream or both", c.Ingress))
	}
	if serving && c.Ingress != "http" && (c.AppKey == "" || c.AppSecret == "") {
		p = append(p, errors.New("BOT_INGRESS="+c.Ingress+" needs DINGTALK_APP_KEY and DINGTALK_APP_SECRET (the app's Client ID and Client Secret)"))
	}
	if c.StreamWatchdog < 10*time.Second {
		// The SDK pings after at least 3s of quiet and waits 5s for the pong.
		p = append(p, errors.New("BOT_STREAM_WATCHDOG must be at least 10s: the Stream SDK pings after 3s of quiet at the soonest and waits 5s for the answer"))
	}
	if c.Lease < time.Second {
		p = append(p, errors.New("BOT_LEASE must be at least 1s"))
	}
	if c.Workers < 1 {
		p = append(p, errors.New("BOT_WORKERS must be at least 1"))
	}
	if c.QueueSize < 0 {
		p = append(p, errors.New("BOT_QUEUE_SIZE must not be negative"))
	}
	if c.Backlog < 0 {
		p = append(p, errors.New("BOT_BACKLOG must not be negative"))
	}
	if c.ReplyWorkers < 1 {
		p = append(p, errors.New("BOT_REPLY_WORKERS must be at least 1"))
	}
	if c.ReplyQueue < 1 {
		p = append(p, errors.New("BOT_REPLY_QUEUE must be at least 1"))
	}
	if !strings.HasPrefix(c.OpenAPIBase, "https://") && !strings.HasPrefix(c.OpenAPIBase, "http://") {
		p = append(p, fmt.Errorf("DINGTALK_OPENAPI_BASE=%q must be an http(s) URL", c.OpenAPIBase))
	}
	if c.RateLimit < 0 {
		p = append(p, errors.New("BOT_RATE_LIMIT must not be negative"))
	}
	if c.AuditMaxLen < 100 {
		p = append(p, errors.New("BOT_AUDIT_MAXLEN must be at least 100"))
	}
	if c.ARMS.Clients < 1 {
		p = append(p, errors.New("ARMS_CLIENTS must be at least 1"))
	}
	if c.ARMS.Endpoint != "" && !strings.HasPrefix(c.ARMS.Endpoint, "http://") && !strings.HasPrefix(c.ARMS.Endpoint, "https://") {
		p = append(p, fmt.Errorf("ARMS_ENDPOINT=%q must start with http:// or https://", c.ARMS.Endpoint))
	}
	if c.RedisPrefix == "" {
		p = append(p, errors.New("BOT_REDIS_PREFIX must not be empty"))
	}
	return p
}

// logConfig writes the effective configuration as one log line, secrets
// reduced to whether they are set.
func logConfig(log *slog.Logger, cfg *Config) {
	set := func(s string) string {
		if s == "" {
			return "unset"
		}
		return "set"
	}
	creds := "access key " + redactID(cfg.ARMS.AccessKeyID)
	switch {
	case cfg.Sandbox:
		creds = "sandbox"
	case cfg.ARMS.OIDC != nil:
		creds = "rrsa role " + cfg.ARMS.OIDC.RoleARN
	case cfg.ARMS.DefaultChain:
		creds = "sdk default chain"
	}
	log.Info("configuration",
		"version", version, "listen", cfg.Listen, "redis", redactURL(cfg.RedisURL), "redis_prefix", cfg.RedisPrefix,
		"dedupe_ttl", cfg.ClaimTTL.String(), "lang", string(cfg.Lang), "admins", cfg.Admins,
		"arms_contact_api", string(cfg.ARMS.Family), "verify_phones", map[bool]string{true: "auto", false: "manual"}[cfg.VerifyAuto],
		"verify_remind", cfg.VerifyRemind.String(), "approval", approvalRules(cfg.Approval), "approval_ttl", cfg.ApprovalTTL.String(),
		"arms_region", cfg.ARMS.Region, "arms_endpoint", cfg.ARMS.Endpoint, "arms_credentials", creds,
		"arms_security_token", set(cfg.ARMS.SecurityToken), "arms_timeout", cfg.ARMS.Timeout.String(), "arms_clients", cfg.ARMS.Clients,
		"dingtalk_app_secret", set(cfg.AppSecret), "dingtalk_app_key", cfg.AppKey, "openapi_base", cfg.OpenAPIBase,
		"session_webhook_prefixes", cfg.SessionPrefixes, "corp_id", cfg.CorpID, "robot_code", cfg.RobotCode,
		"allowed_conversations", cfg.WriteConvs, "sync_reply_budget", cfg.SyncBudget.String(), "body_timeout", cfg.BodyTimeout.String(),
		"command_timeout", cfg.CommandTimeout.String(), "reply_timeout", cfg.ReplyTimeout.String(),
		"shutdown_timeout", cfg.ShutdownTimeout.String(), "lease", cfg.Lease.String(), "ingress", cfg.Ingress, "stream_watchdog", cfg.StreamWatchdog.String(), "workers", cfg.Workers, "queue_size", cfg.QueueSize, "backlog", cfg.Backlog, "reply_workers", cfg.ReplyWorkers, "reply_queue", cfg.ReplyQueue,
		"rate_limit", cfg.RateLimit, "audit_maxlen", cfg.AuditMaxLen)
}

// redactID keeps enough of an AccessKey id to tell keys apart.
func redactID(id string) string {
	if len(id) <= 8 {
		return "****"
	}
	return id[:4] + "****" + id[len(id)-4:]
}

// redactURL drops a password from a Redis URL.
func redactURL(raw string) string {
	if raw == "" {
		return "embedded"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "unparseable"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// approvalRules renders BOT_APPROVAL as parsed, for the start-up line.
func approvalRules(rules []commands.ApprovalRule) string {
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = r.String()
	}
	return strings.Join(out, ",")
}
