package dingtalk

import (
	"context"
	"sync"
	"time"
)

// tokenMargin renews a cached token this long before it expires.
const tokenMargin = 5 * time.Minute

// tokenCache keeps an access token until shortly before it expires:
// DingTalk throttles token requests. fetch gets a new one and says how
// long it lives.
type tokenCache struct {
	now   func() time.Time
	fetch func(ctx context.Context) (token string, ttl time.Duration, err error)

	mu      sync.Mutex
	token   string
	expires time.Time
}

func (c *tokenCache) get(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.now().Before(c.expires.Add(-tokenMargin)) {
		return c.token, nil
	}
	tok, ttl, err := c.fetch(ctx)
	if err != nil {
		return "", err
	}
	c.token, c.expires = tok, c.now().Add(ttl)
	return tok, nil
}

// forget drops the token: DingTalk refused it before its time.
func (c *tokenCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.token = ""
}
