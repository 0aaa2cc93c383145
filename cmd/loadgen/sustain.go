package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// A sustained run (--sustain): a fixed rate for a while, reported minute
// by minute, with Redis's memory, and what the run left in Redis: keys
// that expire go once their windows pass (BOT_DEDUPE_TTL, at least two
// hours), keys without expiry stay, and those are what would grow.

// minute is one minute of a sustained run.
type minute struct {
	sent          int
	p50, p99      time.Duration
	redisMemoryKB int
	cpu           cpuSplit // per message, in each process
}

// reading is what is read at the end of each minute: Redis's memory, and
// the CPU time each process has spent so far.
type reading struct {
	kb  int
	cpu cpuSplit
}

// afterExpiry is Redis's memory around a sustained run: at its start, at
// its end, and once every key of the run that expires has.
type afterExpiry struct {
	startKB, endKB, expiredKB int
	expiring                  int
	auditKB                   int // the audit stream's, capped at BOT_AUDIT_MAXLEN
}

// expireRun deletes the run's keys that have an expiry, as Redis does
// once their windows pass (BOT_DEDUPE_TTL is at least two hours: too long
// to wait for), and reads the memory then. Run it after the bot stopped.
func expireRun(ctx context.Context, rdb *redis.Client, prefix string, startKB int) afterExpiry {
	a := afterExpiry{startKB: startKB, endKB: redisMemoryKB(ctx, rdb)}
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	flush := func() {
		if len(batch) > 0 {
			rdb.Del(ctx, batch...)
			batch = batch[:0]
		}
	}
	for iter.Next(ctx) {
		if ttl, err := rdb.PTTL(ctx, iter.Val()).Result(); err == nil && ttl > 0 {
			batch = append(batch, iter.Val())
			a.expiring++
			if len(batch) == 1000 {
				flush()
			}
		}
	}
	flush()
	a.expiredKB = redisMemoryKB(ctx, rdb)
	a.auditKB = int(rdb.MemoryUsage(ctx, prefix+"audit").Val() / 1024)
	return a
}

// keyCount is what a run left under its key prefix.
type keyCount struct {
	total, persistent int
	byKind            map[string]int // persistent keys by the part after the prefix
	auditEntries      int64
}

// redisMemoryKB is Redis's used_memory.
func redisMemoryKB(ctx context.Context, rdb *redis.Client) int {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, _ := strconv.Atoi(v)
			return n / 1024
		}
	}
	return 0
}

// sampleMinutes reads Redis's memory and the processes' CPU time at the
// start and every minute until stop is closed.
func sampleMinutes(ctx context.Context, rdb *redis.Client, cpu func() cpuSplit, stop <-chan struct{}) <-chan []reading {
	out := make(chan []reading, 1)
	go func() {
		kb := []reading{{redisMemoryKB(ctx, rdb), cpu()}}
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-stop:
				out <- kb
				return
			case <-t.C:
				kb = append(kb, reading{redisMemoryKB(ctx, rdb), cpu()})
			}
		}
	}()
	return out
}

// minutes cuts a run's timeline into minutes.
func minutes(res *result, samples []reading) []minute {
	var out []minute
	for _, s := range res.timeline {
		i := int(s.at / time.Minute)
		for len(out) <= i {
			out = append(out, minute{})
		}
		out[i].sent++
	}
	for i := range out {
		var took []time.Duration
		for _, s := range res.timeline {
			if int(s.at/time.Minute) == i {
				took = append(took, s.took)
			}
		}
		slices.Sort(took)
		if len(took) > 0 {
			out[i].p50, out[i].p99 = took[len(took)/2], took[int(.99*float64(len(took)-1))]
		}
		if i+1 < len(samples) && out[i].sent > 0 {
			a, b, n := samples[i].cpu, samples[i+1].cpu, time.Duration(out[i].sent)
			out[i].redisMemoryKB = samples[i+1].kb
			out[i].cpu = cpuSplit{(b.target - a.target) / n, (b.arms - a.arms) / n, (b.redis - a.redis) / n}
		}
	}
	return out
}

// countKeys counts what is stored under prefix, and which keys have no
// expiry.
func countKeys(ctx context.Context, rdb *redis.Client, prefix string) keyCount {
	k := keyCount{byKind: map[string]int{}}
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		k.total++
		// -1: no expiry (-2: gone since the scan saw it).
		if ttl, err := rdb.Do(ctx, "PTTL", key).Int(); err == nil && ttl == -1 {
			k.persistent++
			kind, _, _ := strings.Cut(strings.TrimPrefix(key, prefix), ":")
			k.byKind[kind]++
		}
	}
	k.auditEntries, _ = rdb.XLen(ctx, prefix+"audit").Result()
	return k
}

func reportSustained(w io.Writer, r *result, rate float64) {
	fmt.Fprintf(w, "\nsustained at %.0f/s:\n\n| minute | msg/s | p50 | p99 | CPU/msg: bot · ARMS stand-in · Redis | Redis memory |\n|---|---|---|---|---|---|\n", rate)
	for i, m := range r.minutes {
		fmt.Fprintf(w, "| %d | %.0f | %s | %s | %s · %s · %s | %.1f MiB |\n", i+1, float64(m.sent)/60, ms(m.p50), ms(m.p99),
			us(m.cpu.target), us(m.cpu.arms), us(m.cpu.redis), float64(m.redisMemoryKB)/1024)
	}
	fmt.Fprintf(w, "\nleft in Redis: %d keys, %d without expiry %v; the audit stream holds %d entries (trimmed at BOT_AUDIT_MAXLEN)\n",
		r.keys.total, r.keys.persistent, r.keys.byKind, r.keys.auditEntries)
	m := r.memory
	fmt.Fprintf(w, "Redis used_memory: %.1f MiB at the start, %.1f MiB at the end, %.1f MiB once the run's %d expiring keys are gone, of which %.1f MiB the audit stream (capped at BOT_AUDIT_MAXLEN): %+.1f %% of the start without it\n",
		float64(m.startKB)/1024, float64(m.endKB)/1024, float64(m.expiredKB)/1024, m.expiring, float64(m.auditKB)/1024,
		100*float64(m.expiredKB-m.auditKB-m.startKB)/float64(max(m.startKB, 1)))
}
