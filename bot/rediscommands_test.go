package bot_test

import (
	"strconv"
	"strings"
	"testing"
)

// What Redis executes for a /contact add, script internals counted, on a
// Redis of the test's own (INFO commandstats counts every command the
// server ran): at most 10 where ARMS keeps contacts unique, under the
// default rate limit. Legacy, where an add searches under its locks first
// and records its intent after, is reported beside it.
func TestRedisCommandsPerAdd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		family string
		most   int
	}{{"alert-management", 10}, {"legacy", 15}} {
		t.Run(tc.family, func(t *testing.T) {
			srv := startOwnRedis(t)
			h := srv.world()
			// A lease of an hour: no renewal or sweep falls into the count.
			h.launch(map[string]string{"BOT_LEASE": "1h", "ARMS_CONTACT_API": tc.family})
			rdb, ctx := h.redis.Client, t.Context()
			add := func(text string) {
				t.Helper()
				m := h.message(adminID, text)
				if _, r := h.post(m); !strings.Contains(r.Markdown.Text, "ContactId") {
					t.Fatalf("no ContactId in %s", r.Markdown.Text)
				}
				// The settle follows the HTTP answer: wait for its audit entry.
				waitFor(t, func() bool {
					e := rdb.XRevRangeN(ctx, h.redis.Prefix+"audit", "+", "-", 1).Val()
					return len(e) == 1 && e[0].Values["msg_id"] == m.MsgID
				})
			}
			// The first add loads the scripts (Redis does not know them
			// yet: each goes whole once, the settle's after its audit
			// entry); the second runs as every later one does.
			add("/contact add name=Warm email=warm@example.com")
			add("/contact add name=Warm2 email=warm2@example.com")
			if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			add("/contact add name=Counted email=counted@example.com")
			stats, err := rdb.Info(ctx, "commandstats").Result()
			if err != nil {
				t.Fatal(err)
			}
			total, each := 0, []string{}
			for _, line := range strings.Split(stats, "\n") {
				name, rest, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "cmdstat_"), ":calls=")
				if !ok {
					continue
				}
				switch name {
				case "xrevrange", "info", "config|resetstat", "ping": // the test's own
					continue
				}
				calls, _ := strconv.Atoi(strings.SplitN(rest, ",", 2)[0])
				total += calls
				each = append(each, name+"="+strconv.Itoa(calls))
			}
			t.Logf("%d Redis commands per add: %s", total, strings.Join(each, " "))
			if total == 0 || total > tc.most {
				t.Errorf("a /contact add ran %d Redis commands (%s), want at most %d", total, strings.Join(each, " "), tc.most)
			}
		})
	}
}
