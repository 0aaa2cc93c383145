package commands

import (
	"fmt"
	"strings"
)

// Lang selects the language of every reply. Both catalogs must hold every key;
// TestCatalogsComplete keeps them in step.
type Lang string

const (
	ZH Lang = "zh"
	EN Lang = "en"
)

// ParseLang accepts the values BOT_LANG documents.
func ParseLang(s string) (Lang, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "zh", "zh-cn", "cn":
		return ZH, nil
	case "en", "en-us":
		return EN, nil
	}
	return "", fmt.Errorf("unknown language %q (want zh or en)", s)
}

// T renders the message key in l. A missing key renders as the key itself so
// that a gap shows up in review rather than as an empty reply.
func (l Lang) T(key string, args ...any) string {
	cat := catalogs[l]
	if cat == nil {
		cat = catalogs[ZH]
	}
	f, ok := cat[key]
	if !ok {
		return key
	}
	if len(args) == 0 {
		return f
	}
	return fmt.Sprintf(f, args...)
}

var catalogs = map[Lang]map[string]string{ZH: zh, EN: en}

var zh = map[string]string{
	"title.ok":        "完成",
	"title.error":     "出错了",
	"title.denied":    "没有权限",
	"title.invalid":   "命令有误",
	"title.help":      "帮助",
	"title.not_found": "没有找到",
	"title.exists":    "联系人已存在",

	"hint.not_command":     "我只听懂以 / 开头的命令，发送 /help 查看可用命令。",
	"hint.empty":           "请在 @我 之后输入命令，例如 /contact add name=张三 email=zhangsan@example.com。发送 /help 查看全部命令。",
	"hint.text_only":       "我只能处理文字命令（图片、语音、文件等消息无法识别）。发送 /help 查看可用命令。",
	"usage":                "用法：%s",
	"example":              "示例：%s",
	"help.header":          "你可以使用的命令：",
	"help.more":            "发送 /help <命令> 查看某个命令的参数和示例，例如 /help contact add。",
	"help.none":            "你目前没有可执行的命令。请联系管理员（%s）授予权限。",
	"help.keys":            "参数：",
	"help.required":        "必填",
	"help.optional":        "可选",
	"help.aliases":         "别名",
	"help.scope":           "所需权限：%s",
	"help.unknown":         "没有命令 %s。",
	"err.unknown_command":  "没有命令 %s。",
	"err.did_you_mean":     "你是不是想输入 %s？",
	"err.unknown_key":      "不认识参数 %s。",
	"err.unknown_key_hint": "不认识参数 %s，你是不是想输入 %s？",
	"err.duplicate_key":    "参数 %s 重复出现了，每个参数只能写一次。",
	"err.missing_key":      "等号前缺少参数名：%s",
	"err.unclosed_quote":   "引号 %s 没有闭合。",
	"err.missing_value":    "参数 %s 缺少取值。",
	"err.extra_arg":        "多余的内容：%s",
	"err.required":         "缺少必填参数 %s。",
	"err.too_long":         "消息太长（最多 %d 个字符）。",
	"err.bad_bool":         "参数 %s 只能是 true 或 false，收到的是 %s。",
	"err.bad_int":          "参数 %s 需要一个正整数，收到的是 %s。",
	"err.bad_email":        "邮箱 %s 的格式不正确，应类似 someone@example.com。",
	"err.bad_phone":        "手机号 %s 的格式不正确：需要 11 位中国大陆手机号（如 13811112222），或以 + 加国家代码开头的号码（如 +85291234567）。",
	"err.bad_webhook":      "钉钉机器人地址不正确：%s。地址应为 https://oapi.dingtalk.com/robot/send?access_token=...",
	"err.bad_name":         "姓名 %s",
	"err.name_too_long":    "不能超过 %d 个字符",
	"err.name_control":     "不能包含控制字符",
	"err.need_channel":     "至少需要提供 phone、email、webhook 中的一个。",
	"err.need_subcommand":  "%s 后面需要子命令：%s。",
	"wh.not_url":           "不是有效的网址",
	"wh.https":             "必须使用 https",
	"wh.userinfo":          "不能包含用户名或密码",
	"wh.host":              "域名必须是 oapi.dingtalk.com",
	"wh.path":              "路径必须是 /robot/send",
	"wh.fragment":          "不能包含 # 片段",
	"wh.params":            "? 后面只能有 access_token",
	"wh.token":             "需要且只能有一个由字母和数字组成的 access_token",
	"err.denied":           "你没有执行 %s 的权限（需要 %s）。请联系管理员授权：%s。",
	"err.denied_nobody":    "你没有执行 %s 的权限（需要 %s）。目前没有配置管理员（BOT_ADMINS），请联系机器人的运维人员。",
	"err.unavailable":      "机器人暂时无法处理请求（内部存储不可用），请稍后重试。",
	"err.internal":         "内部错误，请稍后重试。如果问题持续，请把这个编号告诉运维人员：%s",

	"arms.forbidden":   "机器人的阿里云 RAM 身份没有调用 %s 的权限。请运维人员为其授予 arms:%s（或 arms:*AlertContact*）。RequestId：%s",
	"arms.throttled":   "ARMS 接口被限流（%s），请稍后重试。RequestId：%s",
	"arms.unavailable": "ARMS 服务暂时不可用（%s），请稍后重试。RequestId：%s",
	"arms.invalid":     "ARMS 拒绝了这个请求：%s（%s）。请检查参数后重试。RequestId：%s",
	"arms.not_open":    "当前阿里云账号尚未开通 ARMS，请运维人员开通后重试。RequestId：%s",
	"arms.credentials": "机器人的阿里云凭证无效（%s），请运维人员检查 AccessKey 配置。RequestId：%s",
	"arms.other":       "ARMS 返回错误 %s：%s。RequestId：%s",
	"arms.timeout":     "调用 ARMS 超时或网络中断，结果未知。请稍后用 /contact list 检查联系人是否已创建，再决定是否重试。",
	"arms.unreachable": "无法连接 ARMS（%s），请求没有发出，请稍后重试。",

	"add.created":      "已创建告警联系人 **%s**，ContactId：**%s**",
	"field.name":       "姓名",
	"field.phone":      "手机",
	"field.email":      "邮箱",
	"field.webhook":    "钉钉机器人",
	"field.systemnoc":  "接收系统通知",
	"field.request_id": "RequestId",
	"yes":              "是",
	"no":               "否",

	"summary.help":           "查看命令列表或某个命令的用法",
	"summary.contact.add":    "创建 ARMS 告警联系人",
	"summary.contact.list":   "列出告警联系人（可按姓名筛选，分页）",
	"summary.contact.show":   "查看一个联系人的详情",
	"summary.contact.update": "修改联系人，只改动给出的字段",
	"summary.contact.delete": "删除联系人（需要用确认码确认）",
	"summary.confirm":        "确认一个待执行的操作",
	"summary.cancel":         "取消一个待执行的操作",
	"arg.id":                 "联系人的 ContactId",
	"arg.page":               "页码，从 1 开始",
	"arg.name_filter":        "按姓名筛选（包含即可）",
	"arg.code":               "删除时机器人给出的确认码",

	"list.header":       "共 %d 个联系人，第 %d/%d 页：",
	"list.empty":        "没有找到联系人。",
	"list.past_end":     "第 %d 页没有内容，一共只有 %d 页。",
	"list.next":         "下一页：%s",
	"list.show_hint":    "发送 /contact show <ContactId> 查看详情。",
	"show.header":       "联系人 **%s**，ContactId：**%s**",
	"update.done":       "已更新联系人 **%s**，ContactId：**%s**",
	"update.nothing":    "没有要修改的内容：请在 ContactId 后至少给出一个参数，例如 phone=13911112222。",
	"update.no_channel": "不能移除所有通知方式：phone、email、webhook 至少要保留一个。",
	"delete.confirm":    "将要删除联系人 **%s**（ContactId：%s）：",
	"delete.how":        "请在 %d 分钟内发送 `/confirm %s` 确认删除，或发送 `/cancel %s` 取消。确认码只能由你本人使用一次。",
	"delete.done":       "已删除联系人 **%s**（ContactId：%s）。",
	"cancel.done":       "已取消，联系人 %s（ContactId：%s）不会被删除。",
	"confirm.unknown":   "没有找到你发起的确认码 %s：它可能已过期（有效期 %d 分钟）、已经用过，或者不是你发起的。",
	"err.not_found":     "没有 ContactId 为 %s 的联系人。发送 /contact list 查看全部联系人。",
	"err.bad_id":        "ContactId 应为数字，收到的是 %s。",
	"err.bad_code":      "确认码应为字母和数字，收到的是 %s。",
	"add.exists":        "已有联系人使用 %s %s：ContactId %s（%s）。ARMS 中每个手机号和邮箱只能属于一个联系人，所以没有重复创建。如需修改它，请发送 /contact update %s key=value。",
	"arg.name":          "联系人姓名",
	"arg.phone":         "手机号（11 位大陆手机号或 +国家代码号码）",
	"arg.email":         "邮箱地址",
	"arg.webhook":       "钉钉机器人 Webhook 地址（安全设置的自定义关键词需包含“报警”）",
	"arg.systemnoc":     "是否接收系统通知（true/false，默认 false）",
	"arg.command":       "要查看的命令",
}

var en = map[string]string{
	"title.ok":        "Done",
	"title.error":     "Something went wrong",
	"title.denied":    "Permission denied",
	"title.invalid":   "Invalid command",
	"title.help":      "Help",
	"title.not_found": "Not found",
	"title.exists":    "Contact exists",

	"hint.not_command":     "I only understand commands that start with /. Send /help to see them.",
	"hint.empty":           "Type a command after @-mentioning me, e.g. /contact add name=JohnDoe email=someone@example.com. Send /help for all commands.",
	"hint.text_only":       "I can only handle text commands (pictures, voice messages and files are not understood). Send /help to see the commands.",
	"usage":                "Usage: %s",
	"example":              "Example: %s",
	"help.header":          "Commands you can run:",
	"help.more":            "Send /help <command> for its keys and an example, e.g. /help contact add.",
	"help.none":            "You cannot run any command yet. Ask an admin (%s) to grant you access.",
	"help.keys":            "Keys:",
	"help.required":        "required",
	"help.optional":        "optional",
	"help.aliases":         "aliases",
	"help.scope":           "Required permission: %s",
	"help.unknown":         "There is no command %s.",
	"err.unknown_command":  "There is no command %s.",
	"err.did_you_mean":     "Did you mean %s?",
	"err.unknown_key":      "Unknown key %s.",
	"err.unknown_key_hint": "Unknown key %s, did you mean %s?",
	"err.duplicate_key":    "Key %s is given more than once; give each key once.",
	"err.missing_key":      "Missing key name before '=': %s",
	"err.unclosed_quote":   "The quote %s is not closed.",
	"err.missing_value":    "Key %s has no value.",
	"err.extra_arg":        "Unexpected text: %s",
	"err.required":         "Missing required key %s.",
	"err.too_long":         "The message is too long (at most %d characters).",
	"err.bad_bool":         "Key %s takes true or false, got %s.",
	"err.bad_int":          "Key %s takes a positive whole number, got %s.",
	"err.bad_email":        "Email %s is not a valid address; it should look like someone@example.com.",
	"err.bad_phone":        "Phone %s is not valid: give an 11-digit mainland China mobile number (e.g. 13811112222) or a number starting with + and the country code (e.g. +85291234567).",
	"err.bad_webhook":      "The DingTalk robot webhook is not valid: %s. It must look like https://oapi.dingtalk.com/robot/send?access_token=...",
	"err.bad_name":         "Name %s",
	"err.name_too_long":    "must be at most %d characters",
	"err.name_control":     "must not contain control characters",
	"err.need_channel":     "Give at least one of phone, email or webhook.",
	"err.need_subcommand":  "%s needs a subcommand: %s.",
	"wh.not_url":           "it is not a URL",
	"wh.https":             "it must use https",
	"wh.userinfo":          "it must not carry a user name or password",
	"wh.host":              "the host must be oapi.dingtalk.com",
	"wh.path":              "the path must be /robot/send",
	"wh.fragment":          "it must not have a # fragment",
	"wh.params":            "only access_token may follow the ?",
	"wh.token":             "it needs exactly one access_token made of letters and digits",
	"err.denied":           "You may not run %s (it needs the permission %s). Ask an admin to grant it: %s.",
	"err.denied_nobody":    "You may not run %s (it needs the permission %s). No admins are configured (BOT_ADMINS); ask whoever operates this bot.",
	"err.unavailable":      "The bot is temporarily unavailable (its state store cannot be reached). Please try again shortly.",
	"err.internal":         "Internal error. Please try again; if it persists, give this reference to the operators: %s",

	"arms.forbidden":   "The bot's Alibaba Cloud RAM identity is not allowed to call %s. Ask the operators to grant it arms:%s (or arms:*AlertContact*). RequestId: %s",
	"arms.throttled":   "ARMS is throttling requests (%s). Please try again in a moment. RequestId: %s",
	"arms.unavailable": "ARMS is temporarily unavailable (%s). Please try again later. RequestId: %s",
	"arms.invalid":     "ARMS rejected the request: %s (%s). Check the values and try again. RequestId: %s",
	"arms.not_open":    "ARMS is not activated for this Alibaba Cloud account. Ask the operators to activate it. RequestId: %s",
	"arms.credentials": "The bot's Alibaba Cloud credentials are not valid (%s). Ask the operators to check the AccessKey. RequestId: %s",
	"arms.other":       "ARMS returned error %s: %s. RequestId: %s",
	"arms.timeout":     "The call to ARMS timed out or the connection broke, so the outcome is unknown. Check with /contact list whether the contact exists before trying again.",
	"arms.unreachable": "ARMS could not be reached (%s); nothing was sent. Please try again later.",

	"add.created":      "Created alert contact **%s**, ContactId: **%s**",
	"field.name":       "Name",
	"field.phone":      "Phone",
	"field.email":      "Email",
	"field.webhook":    "DingTalk robot",
	"field.systemnoc":  "System notifications",
	"field.request_id": "RequestId",
	"yes":              "yes",
	"no":               "no",

	"summary.help":           "List the commands or show how to use one",
	"summary.contact.add":    "Create an ARMS alert contact",
	"summary.contact.list":   "List alert contacts (filter by name, page by page)",
	"summary.contact.show":   "Show one contact in detail",
	"summary.contact.update": "Change a contact; only the keys given change",
	"summary.contact.delete": "Delete a contact (after confirming with a code)",
	"summary.confirm":        "Confirm a pending action",
	"summary.cancel":         "Cancel a pending action",
	"arg.id":                 "the contact's ContactId",
	"arg.page":               "page number, from 1",
	"arg.name_filter":        "only contacts whose name contains this",
	"arg.code":               "the confirmation code the bot gave for a delete",

	"list.header":       "%d contact(s), page %d of %d:",
	"list.empty":        "No contacts found.",
	"list.past_end":     "Page %d is empty; there are only %d pages.",
	"list.next":         "Next page: %s",
	"list.show_hint":    "Send /contact show <ContactId> for details.",
	"show.header":       "Contact **%s**, ContactId: **%s**",
	"update.done":       "Updated contact **%s**, ContactId: **%s**",
	"update.nothing":    "Nothing to change: give at least one key after the ContactId, e.g. phone=13911112222.",
	"update.no_channel": "Cannot remove every channel: keep at least one of phone, email and webhook.",
	"delete.confirm":    "About to delete contact **%s** (ContactId: %s):",
	"delete.how":        "Within %d minutes send `/confirm %s` to delete it, or `/cancel %s` to keep it. Only you can use the code, once.",
	"delete.done":       "Deleted contact **%s** (ContactId: %s).",
	"cancel.done":       "Cancelled: contact %s (ContactId: %s) will not be deleted.",
	"confirm.unknown":   "You have no pending action with code %s: it may have expired (codes last %d minutes), been used already, or belong to someone else.",
	"err.not_found":     "There is no contact with ContactId %s. Send /contact list to see them all.",
	"err.bad_id":        "A ContactId is a number; got %s.",
	"err.bad_code":      "A confirmation code is letters and digits; got %s.",
	"add.exists":        "A contact already uses %s %s: ContactId %s (%s). ARMS lets a phone number or email belong to one contact only, so nothing was created. To change that contact, send /contact update %s key=value.",
	"arg.name":          "the contact's name",
	"arg.phone":         "mobile number (11-digit mainland number or +country code)",
	"arg.email":         "email address",
	"arg.webhook":       "DingTalk robot webhook URL (its custom keyword must include 报警/alert)",
	"arg.systemnoc":     "receive system notifications (true/false, default false)",
	"arg.command":       "the command to explain",
}
