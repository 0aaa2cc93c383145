package redisstore

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestRedisURLForms(t *testing.T) {
	tests := []struct {
		url  string
		want string // client type
		desc string
	}{
		{"redis://127.0.0.1:6379/0", "*redis.Client", "127.0.0.1:6379"},
		{"rediss://user:pw@redis.example.com:6380/1", "*redis.Client", "redis.example.com:6380"},
		{"redis://s1:26379?master_name=mymaster&addr=s2:26379", "*redis.Client", "sentinel mymaster@s1:26379,s2:26379"},
		{"redis+cluster://n1:7000?addr=n2:7000&addr=n3:7000", "*redis.ClusterClient", "cluster n1:7000,n2:7000,n3:7000"},
		{"rediss+cluster://n1:7000", "*redis.ClusterClient", "cluster n1:7000"},
	}
	for _, tc := range tests {
		c, desc, err := newClient(tc.url)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		got := ""
		switch c.(type) {
		case *redis.Client:
			got = "*redis.Client"
		case *redis.ClusterClient:
			got = "*redis.ClusterClient"
		}
		if got != tc.want || desc != tc.desc {
			t.Errorf("%s: %s %q, want %s %q", tc.url, got, desc, tc.want, tc.desc)
		}
		_ = c.Close()
	}
	for _, bad := range []string{"http://x", "redis://h:1?no_such_option=1", "::"} {
		if c, _, err := newClient(bad); err == nil {
			c.Close()
			t.Errorf("%s accepted", bad)
		}
	}
	// A URL that does not parse is reported without a word of it: it
	// holds the password.
	for _, bad := range []string{"redis://user:p%zzword@h:6379/0", "redis://:se cret@h:6379/0", "redis://:secret%@h/0", "rediss://u:abc%4@h/0?master_name=m"} {
		_, _, err := newClient(bad)
		if err == nil {
			t.Errorf("%s accepted", bad)
			continue
		}
		for _, secret := range []string{"zzword", "cret", "secret", "abc"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error for a bad REDIS_URL quotes %q: %v", secret, err)
			}
		}
	}
	// Timeouts default to fail fast unless the URL sets them.
	c, _, _ := newClient("redis://h:1/0?dial_timeout=7s")
	defer c.Close()
	if o := c.(*redis.Client).Options(); o.DialTimeout != 7*time.Second || o.ReadTimeout != time.Second || o.MaxRetries != 1 {
		t.Errorf("options %v/%v/%d", o.DialTimeout, o.ReadTimeout, o.MaxRetries)
	}
}
