package commands

import (
	"context"
	"strings"
)

// Kind says how an argument's text is checked and normalised.
type Kind int

const (
	KindString Kind = iota
	KindName
	KindBool
	KindInt
	KindPhone
	KindEmail
	KindWebhook
	KindID       // an ARMS ContactId: digits
	KindCode     // a confirmation code: letters and digits
	KindUser     // a staff id, or an @mention resolved through the message's atUsers
	KindScope    // a permission scope
	KindCommand  // the rest of the words name a command (for /help)
	KindWho      // whom /contact add is for: me, or an @mention
	KindIDs      // ContactIds: digits, separated by spaces or commas
	KindGroupID  // an ARMS ContactGroupId: digits
	KindFallback // what ARMS does about an unanswered call: one of Fallbacks
	KindSecret   // a DingTalk robot's signing secret: SEC and hex digits; never shown
	KindTimes    // times of day, HH:MM, separated by commas
	KindFormat   // an export's format: csv or terraform
)

// Arg declares one key a command accepts.
type Arg struct {
	Name       string   // canonical key, as shown in help
	Aliases    []string // other spellings accepted (ARMS names, Chinese)
	Kind       Kind
	Required   bool
	Positional bool // given as a bare word after the command, e.g. a ContactId
	Variadic   bool // a positional that takes every bare word after it
	Clearable  bool // key= with an empty value means "remove this"
	Example    string
	Help       string // catalog key of the one-line description
}

// Spec declares a command once; parsing, validation, help, error messages
// and audit records are all derived from it.
type Spec struct {
	Path    []string // words after the slash, e.g. {"contact", "add"}
	Aliases []string // other spellings of the last word
	Summary string   // catalog key
	Scope   string   // permission needed; "" means anyone
	// Needs are scopes some calls need besides Scope (access.go).
	Needs   []Need
	Writes  bool // changes ARMS or permissions: limited by BOT_ALLOWED_CONVERSATIONS
	Args    []Arg
	Example string
	Hidden  bool // left out of the /help list (still explained by /help <command>)
	// Title is the catalog key of a successful reply's title, which
	// DingTalk shows in its notification; "" is "title.ok" (Done), for
	// commands that change something.
	Title string
	// Proposes: the command previews and waits for /confirm (a delete);
	// held for approval, its proposal becomes the request.
	Proposes bool
	// Lines: the message's lines after the command's are data the
	// handler reads (an import's rows), not keys.
	Lines bool
	// Rule, when set, checks what no single key can: reported with the
	// keys' own problems.
	Rule func(c *Call) *Error
	Run  func(r *Runner, ctx context.Context, c *Call) (Result, error)
}

// Name is the command as people type it, without the slash.
func (s *Spec) Name() string { return strings.Join(s.Path, " ") }

// Usage renders the one-line synopsis.
func (s *Spec) Usage() string {
	var b strings.Builder
	b.WriteString("/" + s.Name())
	for _, a := range s.Args {
		var part string
		switch {
		case a.Kind == KindCommand:
			part = "<command>"
		case a.Positional && a.Variadic:
			part = "<" + a.Name + ">…"
		case a.Positional:
			part = "<" + a.Name + ">"
		case a.Kind == KindBool:
			part = a.Name + "=true|false"
		default:
			part = a.Name + "=<" + a.Name + ">"
		}
		if !a.Required {
			part = "[" + part + "]"
		}
		b.WriteString(" " + part)
	}
	return b.String()
}

func (s *Spec) arg(key string) *Arg {
	for i := range s.Args {
		a := &s.Args[i]
		if a.Positional {
			continue
		}
		if a.Name == key {
			return a
		}
		for _, al := range a.Aliases {
			if al == key {
				return a
			}
		}
	}
	return nil
}

func (s *Spec) positional() []*Arg {
	var out []*Arg
	for i := range s.Args {
		if s.Args[i].Positional {
			out = append(out, &s.Args[i])
		}
	}
	return out
}

// keyNames lists every spelling of every key, for suggestions.
func (s *Spec) keyNames() []string {
	var out []string
	for _, a := range s.Args {
		if a.Positional {
			continue
		}
		out = append(out, a.Name)
		out = append(out, a.Aliases...)
	}
	return out
}

// Group aliases: other spellings of the first word of multi-word commands.
var groupAliases = map[string][]string{
	"contact": {"contacts", "联系人"},
	"group":   {"groups", "联系人组", "分组"},
	"perm":    {"perms", "permission", "权限"},
	"robot":   {"robots", "im", "群机器人"},
}

// Scopes are the permissions a grant can name. A grant of a prefix ("contact")
// covers the scopes below it.
// contact.add.self lets a member add only themselves (/contact add me).
// contact.force lets a delete leave an enabled notification policy with
// nobody to notify, when the sender says force=true.
var Scopes = []string{"contact", "contact.read", "contact.add", "contact.add.self", "contact.update", "contact.delete", "contact.force",
	"group", "group.read", "group.write", "robot", "robot.read", "robot.write", "perm", "audit", "approve", "admin"}

// The keys of a contact, shared by add and update.
var (
	nameArg         = Arg{Name: "name", Aliases: []string{"contactname", "姓名", "名字"}, Kind: KindName, Example: "JohnDoe", Help: "arg.name"}
	addNameArg      = Arg{Name: "name", Aliases: []string{"contactname", "姓名", "名字"}, Kind: KindName, Example: "JohnDoe", Help: "arg.add_name"}
	phoneArg        = Arg{Name: "phone", Aliases: []string{"phonenum", "mobile", "手机", "电话"}, Kind: KindPhone, Example: "13811112222", Help: "arg.phone"}
	emailArg        = Arg{Name: "email", Aliases: []string{"mail", "邮箱"}, Kind: KindEmail, Example: "someone@example.com", Help: "arg.email"}
	webhookArg      = Arg{Name: "webhook", Aliases: []string{"dingrobotwebhookurl", "dingrobot", "robot", "钉钉", "机器人"}, Kind: KindWebhook, Example: "https://oapi.dingtalk.com/robot/send?access_token=...", Help: "arg.webhook"}
	systemnocArg    = Arg{Name: "systemnoc", Aliases: []string{"system_noc", "系统通知"}, Kind: KindBool, Example: "true", Help: "arg.systemnoc"}
	idArg           = Arg{Name: "id", Aliases: []string{"contactid"}, Kind: KindID, Required: true, Positional: true, Example: "10211", Help: "arg.id"}
	userArg         = Arg{Name: "user", Aliases: []string{"staffid"}, Kind: KindUser, Required: true, Positional: true, Example: "@张三", Help: "arg.user"}
	scopeArg        = Arg{Name: "scope", Kind: KindScope, Required: true, Positional: true, Example: "contact.add", Help: "arg.scope"}
	approvalCodeArg = Arg{Name: "code", Kind: KindCode, Required: true, Positional: true, Example: "K7P2QX", Help: "arg.approval_code"}
	codeArg         = Arg{Name: "code", Kind: KindCode, Required: true, Positional: true, Example: "K7P2QX", Help: "arg.code"}
	whoArg          = Arg{Name: "who", Kind: KindWho, Positional: true, Example: "me", Help: "arg.who"}
	intoGroupArg    = Arg{Name: "group", Aliases: []string{"groupid", "contactgroupid", "分组", "组"}, Kind: KindGroupID, Example: "701", Help: "arg.into_group"}
	groupIDArg      = Arg{Name: "group", Aliases: []string{"groupid", "contactgroupid"}, Kind: KindGroupID, Required: true, Positional: true, Example: "701", Help: "arg.group_id"}
	membersArg      = Arg{Name: "contacts", Aliases: []string{"contactids", "members", "成员"}, Kind: KindIDs, Required: true, Positional: true, Variadic: true, Example: "10211 10212", Help: "arg.members"}
	groupNameArg    = Arg{Name: "name", Aliases: []string{"groupname", "contactgroupname", "组名", "名字"}, Kind: KindName, Example: "SRE-oncall", Help: "arg.group_name"}
	dryRunArg       = Arg{Name: "dry-run", Aliases: []string{"dryrun", "试运行", "预演"}, Kind: KindBool, Example: "true", Help: "arg.dry_run"}
	fallbackArg     = Arg{Name: "fallback", Aliases: []string{"reissue", "reissuesendnotice", "未接通", "补发"}, Kind: KindFallback, Example: "sms", Help: "arg.fallback"}
	forceArg        = Arg{Name: "force", Aliases: []string{"强制"}, Kind: KindBool, Example: "true", Help: "arg.force"}
	robotIDArg      = Arg{Name: "id", Aliases: []string{"robotid"}, Kind: KindID, Required: true, Positional: true, Example: "123", Help: "arg.robot_id"}
	secretArg       = Arg{Name: "secret", Aliases: []string{"dingsignkey", "signkey", "加签", "密钥"}, Kind: KindSecret, Example: "SEC…", Help: "arg.secret"}
	dailyArg        = Arg{Name: "daily", Aliases: []string{"dailynoctime", "日报"}, Kind: KindTimes, Example: "09:30,17:00", Help: "arg.daily"}
)

func required(a Arg) Arg  { a.Required = true; return a }
func clearable(a Arg) Arg { a.Clearable = true; return a }

// Commands returns the bot's command set. Adding a command is one entry here
// plus its handler.
func Commands() []*Spec {
	return []*Spec{
		{
			Path:    []string{"help"},
			Title:   "title.help",
			Aliases: []string{"h", "?", "帮助"},
			Summary: "summary.help",
			Args:    []Arg{{Name: "command", Kind: KindCommand, Positional: true, Help: "arg.command", Example: "contact add"}},
			Example: "/help contact add",
			Run:     (*Runner).help,
		},
		{
			Path:    []string{"contact", "add"},
			Aliases: []string{"create", "new", "添加", "新增"},
			Summary: "summary.contact.add",
			// contact.add.self may add only themselves, as the directory
			// knows them; the rest is contact.add's (access.go).
			Scope:   "contact.add.self",
			Needs:   []Need{needAddOthers, needAddTypedChannels, needAddIntoGroup},
			Writes:  true,
			Args:    []Arg{whoArg, addNameArg, phoneArg, emailArg, webhookArg, systemnocArg, fallbackArg, intoGroupArg, dryRunArg},
			Example: "/contact add name=JohnDoe email=someone@example.com phone=13811112222 systemnoc=true",
			Rule:    contactAddRule,
			Run:     (*Runner).contactAdd,
		},
		{
			Path:    []string{"contact", "list"},
			Title:   "title.contacts",
			Aliases: []string{"ls", "search", "列表", "查找"},
			Summary: "summary.contact.list",
			Scope:   "contact.read",
			Args: []Arg{
				{Name: "name", Aliases: []string{"contactname", "姓名", "名字"}, Kind: KindString, Example: "John", Help: "arg.name_filter"},
				{Name: "verified", Aliases: []string{"已验证"}, Kind: KindBool, Example: "no", Help: "arg.verified_filter"},
				{Name: "page", Aliases: []string{"页"}, Kind: KindInt, Example: "2", Help: "arg.page"},
			},
			Example: "/contact list name=John page=2",
			Run:     (*Runner).contactList,
		},
		{
			Path:     []string{"contact", "import"},
			Aliases:  []string{"导入"},
			Summary:  "summary.contact.import",
			Scope:    "contact.add",
			Needs:    []Need{needImportGroups},
			Writes:   true,
			Proposes: true,
			Lines:    true,
			Example:  "/contact import\nname=Ann email=ann@example.com\nname=Bob phone=13811112222",
			Run:      (*Runner).contactImport,
		},
		{
			Path:    []string{"contact", "export"},
			Title:   "title.contacts",
			Aliases: []string{"导出"},
			Summary: "summary.contact.export",
			Scope:   "contact.read",
			Args: []Arg{
				{Name: "format", Aliases: []string{"格式"}, Kind: KindFormat, Example: "terraform", Help: "arg.format"},
				{Name: "group", Aliases: []string{"groupid", "contactgroupid", "分组", "组"}, Kind: KindGroupID, Example: "701", Help: "arg.export_group"},
			},
			Example: "/contact export format=terraform",
			Run:     (*Runner).contactExport,
		},
		{
			Path:    []string{"contact", "show"},
			Title:   "title.contact",
			Aliases: []string{"get", "info", "查看"},
			Summary: "summary.contact.show",
			Scope:   "contact.read",
			Args:    []Arg{idArg},
			Example: "/contact show 10211",
			Run:     (*Runner).contactShow,
		},
		{
			Path:    []string{"contact", "update"},
			Aliases: []string{"set", "edit", "修改", "更新"},
			Summary: "summary.contact.update",
			Scope:   "contact.update",
			Writes:  true,
			Args:    []Arg{idArg, nameArg, clearable(phoneArg), clearable(emailArg), clearable(webhookArg), systemnocArg, fallbackArg, dryRunArg},
			Example: "/contact update 10211 phone=13911112222 email=",
			Run:     (*Runner).contactUpdate,
		},
		{
			Path:    []string{"contact", "verify"},
			Aliases: []string{"验证"},
			Summary: "summary.contact.verify",
			// contact.update, or the contact is the sender's own: the
			// handler asks, since whose it is is kept in Redis.
			Needs:   []Need{needVerify},
			Writes:  true,
			Args:    []Arg{idArg},
			Example: "/contact verify 10211",
			Run:     (*Runner).contactVerify,
		},
		{
			Path:     []string{"contact", "delete"},
			Proposes: true,
			Aliases:  []string{"rm", "remove", "del", "删除"},
			Summary:  "summary.contact.delete",
			Scope:    "contact.delete",
			Writes:   true,
			Needs:    []Need{needForce},
			Args:     []Arg{idArg, forceArg, dryRunArg},
			Example:  "/contact delete 10211",
			Run:      (*Runner).contactDelete,
		},
		{
			Path:    []string{"contact", "where"},
			Title:   "title.contact",
			Aliases: []string{"used", "usage", "policies", "在哪", "用途"},
			Summary: "summary.contact.where",
			Scope:   "contact.read",
			Args:    []Arg{idArg},
			Example: "/contact where 10211",
			Run:     (*Runner).contactWhere,
		},
		{
			Path:    []string{"contact", "history"},
			Title:   "title.history",
			Aliases: []string{"log", "历史"},
			Summary: "summary.contact.history",
			Scope:   "contact.read",
			Needs:   []Need{needAudit},
			Args:    []Arg{idArg},
			Example: "/contact history 10211",
			Run:     (*Runner).contactHistory,
		},
		{
			Path:    []string{"group", "list"},
			Title:   "title.groups",
			Aliases: []string{"ls", "search", "列表", "查找"},
			Summary: "summary.group.list",
			Scope:   "group.read",
			Args:    []Arg{{Name: "name", Aliases: []string{"groupname", "组名", "名字"}, Kind: KindString, Example: "SRE", Help: "arg.group_filter"}},
			Example: "/group list name=SRE",
			Run:     (*Runner).groupList,
		},
		{
			Path:    []string{"group", "show"},
			Title:   "title.groups",
			Aliases: []string{"get", "info", "查看"},
			Summary: "summary.group.show",
			Scope:   "group.read",
			Args:    []Arg{groupIDArg},
			Example: "/group show 701",
			Run:     (*Runner).groupShow,
		},
		{
			Path:    []string{"group", "create"},
			Aliases: []string{"new", "创建", "新建"},
			Summary: "summary.group.create",
			Scope:   "group.write",
			Writes:  true,
			Args: []Arg{required(groupNameArg), func() Arg { a := membersArg; a.Positional, a.Variadic, a.Required = false, false, false; return a }(),
				dryRunArg},
			Example: "/group create name=SRE-oncall contacts=10211,10212",
			Run:     (*Runner).groupCreate,
		},
		{
			Path:    []string{"group", "add"},
			Aliases: []string{"join", "添加", "加入"},
			Summary: "summary.group.add",
			Scope:   "group.write",
			Writes:  true,
			Args:    []Arg{groupIDArg, membersArg, dryRunArg},
			Example: "/group add 701 10211 10212",
			Run:     (*Runner).groupAdd,
		},
		{
			Path:    []string{"group", "remove"},
			Aliases: []string{"rm", "kick", "移除", "移出"},
			Summary: "summary.group.remove",
			Scope:   "group.write",
			Writes:  true,
			Needs:   []Need{needForce},
			Args:    []Arg{groupIDArg, membersArg, forceArg, dryRunArg},
			Example: "/group remove 701 10212",
			Run:     (*Runner).groupRemove,
		},
		{
			Path:    []string{"group", "rename"},
			Aliases: []string{"mv", "重命名", "改名"},
			Summary: "summary.group.rename",
			Scope:   "group.write",
			Writes:  true,
			Args:    []Arg{groupIDArg, required(groupNameArg), dryRunArg},
			Example: "/group rename 701 name=SRE-primary",
			Run:     (*Runner).groupRename,
		},
		{
			Path:     []string{"group", "delete"},
			Proposes: true,
			Aliases:  []string{"del", "删除"},
			Summary:  "summary.group.delete",
			Scope:    "group.write",
			Writes:   true,
			Needs:    []Need{needForce},
			Args:     []Arg{groupIDArg, forceArg, dryRunArg},
			Example:  "/group delete 701",
			Run:      (*Runner).groupDelete,
		},
		{
			Path:    []string{"group", "where"},
			Title:   "title.groups",
			Aliases: []string{"used", "usage", "policies", "在哪", "用途"},
			Summary: "summary.group.where",
			Scope:   "group.read",
			Args:    []Arg{groupIDArg},
			Example: "/group where 701",
			Run:     (*Runner).groupWhere,
		},
		{
			Path:    []string{"robot", "add"},
			Aliases: []string{"create", "new", "添加", "新增"},
			Summary: "summary.robot.add",
			Scope:   "robot.write",
			Writes:  true,
			Args:    []Arg{required(groupNameArg), required(webhookArg), secretArg, dailyArg, dryRunArg},
			Example: "/robot add name=SRE-group webhook=https://oapi.dingtalk.com/robot/send?access_token=... daily=09:30,17:00",
			Rule:    robotRule,
			Run:     (*Runner).robotAdd,
		},
		{
			Path:    []string{"robot", "list"},
			Title:   "title.robots",
			Aliases: []string{"ls", "列表"},
			Summary: "summary.robot.list",
			Scope:   "robot.read",
			Args:    []Arg{{Name: "name", Aliases: []string{"robotname", "名字"}, Kind: KindString, Example: "SRE", Help: "arg.robot_filter"}},
			Example: "/robot list",
			Run:     (*Runner).robotList,
		},
		{
			Path:    []string{"robot", "show"},
			Title:   "title.robots",
			Aliases: []string{"get", "info", "查看"},
			Summary: "summary.robot.show",
			Scope:   "robot.read",
			Args:    []Arg{robotIDArg},
			Example: "/robot show 123",
			Run:     (*Runner).robotShow,
		},
		{
			Path:     []string{"robot", "delete"},
			Proposes: true,
			Aliases:  []string{"rm", "del", "删除"},
			Summary:  "summary.robot.delete",
			Scope:    "robot.write",
			Needs:    []Need{needForce},
			Writes:   true,
			Args:     []Arg{robotIDArg, forceArg, dryRunArg},
			Example:  "/robot delete 123",
			Run:      (*Runner).robotDelete,
		},
		{
			Path:    []string{"perm", "grant"},
			Aliases: []string{"add", "授权", "授予"},
			Summary: "summary.perm.grant",
			Scope:   "perm",
			Needs:   []Need{needScopeHeld},
			Writes:  true,
			Args:    []Arg{userArg, scopeArg},
			Example: "/perm grant @张三 contact.add",
			Run:     (*Runner).permGrant,
		},
		{
			Path:    []string{"perm", "revoke"},
			Aliases: []string{"remove", "rm", "撤销", "收回"},
			Summary: "summary.perm.revoke",
			Scope:   "perm",
			Needs:   []Need{needScopeHeld},
			Writes:  true,
			Args:    []Arg{userArg, scopeArg},
			Example: "/perm revoke @张三 contact.add",
			Run:     (*Runner).permRevoke,
		},
		{
			Path:    []string{"perm", "list"},
			Title:   "title.permissions",
			Aliases: []string{"ls", "show", "列表", "查看"},
			Summary: "summary.perm.list",
			Scope:   "perm",
			Args:    []Arg{func() Arg { a := userArg; a.Required = false; return a }()},
			Example: "/perm list @张三",
			Run:     (*Runner).permList,
		},
		{
			Path:    []string{"whoami"},
			Title:   "title.permissions",
			Aliases: []string{"me", "我是谁"},
			Summary: "summary.whoami",
			Example: "/whoami",
			Run:     (*Runner).whoami,
		},
		{
			Path:    []string{"audit"},
			Title:   "title.audit",
			Aliases: []string{"审计", "log"},
			Summary: "summary.audit",
			Scope:   "audit",
			Args: []Arg{
				{Name: "n", Kind: KindInt, Positional: true, Example: "20", Help: "arg.n"},
				{Name: "user", Aliases: []string{"staffid", "用户"}, Kind: KindUser, Example: "0123456789", Help: "arg.audit_user"},
			},
			Example: "/audit 20 user=0123456789",
			Run:     (*Runner).auditList,
		},
		{
			Path:    []string{"confirm"},
			Aliases: []string{"确认"},
			Summary: "summary.confirm",
			Needs:   []Need{needConfirmed},
			Writes:  true,
			Hidden:  true,
			Args:    []Arg{codeArg},
			Example: "/confirm K7P2QX",
			Run:     (*Runner).confirm,
		},
		{
			Path:    []string{"cancel"},
			Title:   "title.cancelled",
			Aliases: []string{"取消"},
			Summary: "summary.cancel",
			Hidden:  true,
			Args:    []Arg{codeArg},
			Example: "/cancel K7P2QX",
			Run:     (*Runner).cancel,
		},
		{
			Path:    []string{"approve"},
			Aliases: []string{"批准", "同意"},
			Summary: "summary.approve",
			Scope:   "approve",
			Needs:   []Need{needApproval},
			Writes:  true,
			Hidden:  true,
			Args:    []Arg{approvalCodeArg},
			Example: "/approve K7P2QX",
			Run:     (*Runner).approve,
		},
		{
			Path:    []string{"reject"},
			Title:   "title.cancelled",
			Aliases: []string{"拒绝", "驳回"},
			Summary: "summary.reject",
			Needs:   []Need{needReject},
			Writes:  true,
			Hidden:  true,
			Args:    []Arg{approvalCodeArg},
			Example: "/reject K7P2QX",
			Run:     (*Runner).reject,
		},
	}
}
