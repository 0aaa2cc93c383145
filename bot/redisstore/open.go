package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Open connects to the Redis that url names, in the forms the README
// documents, or, when url is empty, starts an embedded in-process server and
// warns that its state is neither persistent nor shared. A Redis that does
// not answer at start is logged, not fatal: the bot answers "temporarily
// unavailable" and /readyz says 503 until it is back, and go-redis
// reconnects by itself.
func Open(ctx context.Context, url string, opt Options, log *slog.Logger) (*Store, error) {
	if url == "" {
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("start embedded redis: %w", err)
		}
		log.Warn("REDIS_URL is not set: using an embedded in-process store; state is not persistent and not shared between replicas, so do not run more than one replica like this")
		stopClock := KeepRealTime(mr)
		s := New(redis.NewClient(withFastFailure(&redis.Options{Addr: mr.Addr()})), opt)
		s.closers = append(s.closers, stopClock, mr.Close)
		return s, nil
	}
	rdb, desc, err := newClient(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		log.Error("redis is not reachable at start", "redis", desc, "err", err.Error())
	}
	return New(rdb, opt), nil
}

// KeepRealTime makes keys in m expire as the wall clock says: miniredis
// counts down TTLs only when told to. It returns a function that stops.
func KeepRealTime(m *miniredis.Miniredis) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				m.FastForward(now.Sub(last))
				last = now
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-stopped }) }
}

// newClient understands the URL forms the README documents:
//
//	redis://[user:pass@]host:port/db               one server
//	rediss://...                                   the same over TLS
//	redis://host:26379?master_name=m&addr=h2:26379 Sentinel (rediss:// for TLS)
//	redis+cluster://host:port?addr=h2:port         Cluster (rediss+cluster:// for TLS)
func newClient(raw string) (redis.UniversalClient, string, error) {
	u, err := neturl.Parse(raw)
	if err != nil {
		// url's errors quote the whole URL, password and all.
		return nil, "", errBadURL
	}
	switch {
	case strings.HasSuffix(u.Scheme, "+cluster"):
		u.Scheme = strings.TrimSuffix(u.Scheme, "+cluster")
		o, err := redis.ParseClusterURL(u.String())
		if err != nil {
			return nil, "", err
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = orDefault(o.DialTimeout), orDefault(o.ReadTimeout), orDefault(o.WriteTimeout), orDefault(o.PoolTimeout)
		return redis.NewClusterClient(o), "cluster " + strings.Join(o.Addrs, ","), nil
	case u.Query().Has("master_name"):
		o, err := redis.ParseFailoverURL(raw)
		if err != nil {
			return nil, "", err
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = orDefault(o.DialTimeout), orDefault(o.ReadTimeout), orDefault(o.WriteTimeout), orDefault(o.PoolTimeout)
		return redis.NewFailoverClient(o), "sentinel " + o.MasterName + "@" + strings.Join(o.SentinelAddrs, ","), nil
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		return nil, "", err
	}
	return redis.NewClient(withFastFailure(o)), o.Addr, nil
}

// errBadURL says what is wrong with a REDIS_URL without quoting any of it.
var errBadURL = errors.New("not a valid URL; percent-encode special characters in the user name and password (% as %25, @ as %40, / as %2F, # as %23)")

// withFastFailure shortens go-redis's default timeouts (5 s dial, 3 retries)
// unless the URL set them: DingTalk waits for the webhook, and a Redis
// outage must cost it a reply saying so, not a timeout.
func withFastFailure(o *redis.Options) *redis.Options {
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = orDefault(o.DialTimeout), orDefault(o.ReadTimeout), orDefault(o.WriteTimeout), orDefault(o.PoolTimeout)
	if o.MaxRetries == 0 {
		o.MaxRetries = 1
	}
	return o
}

func orDefault(d time.Duration) time.Duration {
	if d == 0 {
		return time.Second
	}
	return d
}

// Close closes the connections, and stops the embedded server if there is one.
func (s *Store) Close() {
	_ = s.rdb.Close()
	for _, c := range s.closers {
		c()
	}
}

// Observe calls f after every round trip to Redis, with the command's name
// ("pipeline" for a pipeline) and its error; "no such key" is an answer,
// not an error. Add observers before the store is used.
func (s *Store) Observe(f func(op string, err error)) { s.rdb.AddHook(observer(f)) }

type observer func(op string, err error)

func (o observer) DialHook(next redis.DialHook) redis.DialHook { return next }

func (o observer) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		o(cmd.Name(), answerTo(cmd.Name(), err))
		return err
	}
}

func (o observer) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		var failed error
		for _, c := range cmds {
			if failed = answerTo(c.Name(), c.Err()); failed != nil {
				break
			}
		}
		if failed == nil && len(cmds) == 0 {
			failed = answer(err)
		}
		o("pipeline", failed)
		return err
	}
}

func answer(err error) error {
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}

// answerTo is err unless it is one of Redis's normal answers: NOSCRIPT
// (the first EVALSHA of a script after Redis restarted; go-redis sends the
// script itself next), and the refusals of the handshake go-redis tries
// on every new connection (HELLO, CLIENT SETINFO on servers without them).
func answerTo(cmd string, err error) error {
	if err == nil {
		return nil // before re, which escapes: most answers allocate nothing
	}
	var re redis.Error
	switch {
	case errors.Is(err, redis.Nil) || !errors.As(err, &re):
		return answer(err)
	case strings.HasPrefix(re.Error(), "NOSCRIPT"), cmd == "hello", cmd == "client":
		return nil
	}
	return err
}

// go-redis prints its own complaints (a failed redial, say) through a
// package-level logger in plain text; sending them through slog keeps every
// log line JSON. go-redis offers only that global, so it is set once, by the
// first caller in the process.
var routeLogsOnce sync.Once

// RouteClientLogs sends go-redis's own log lines to log.
func RouteClientLogs(log *slog.Logger) {
	routeLogsOnce.Do(func() { redis.SetLogger(clientLogger{log}) })
}

type clientLogger struct{ log *slog.Logger }

func (l clientLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}
