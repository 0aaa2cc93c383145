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

// sampleMemory reads Redis's memory every minute until stop is closed.
func sampleMemory(ctx context.Context, rdb *redis.Client, stop <-chan struct{}) <-chan []int {
	out := make(chan []int, 1)
	go func() {
		var kb []int
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-stop:
				out <- kb
				return
			case <-t.C:
				kb = append(kb, redisMemoryKB(ctx, rdb))
			}
		}
	}()
	return out
}

// minutes cuts a run's timeline into minutes.
func minutes(res *result, memory []int) []minute {
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
		if i < len(memory) {
			out[i].redisMemoryKB = memory[i]
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
		if ttl, err := rdb.TTL(ctx, key).Result(); err == nil && ttl < 0 {
			k.persistent++
			kind, _, _ := strings.Cut(strings.TrimPrefix(key, prefix), ":")
			k.byKind[kind]++
		}
	}
	k.auditEntries, _ = rdb.XLen(ctx, prefix+"audit").Result()
	return k
}

func reportSustained(w io.Writer, r *result, rate float64) {
	fmt.Fprintf(w, "\nsustained at %.0f/s:\n\n| minute | msg/s | p50 | p99 | Redis memory |\n|---|---|---|---|---|\n", rate)
	for i, m := range r.minutes {
		fmt.Fprintf(w, "| %d | %.0f | %s | %s | %.1f MiB |\n", i+1, float64(m.sent)/60, ms(m.p50), ms(m.p99), float64(m.redisMemoryKB)/1024)
	}
	fmt.Fprintf(w, "\nleft in Redis: %d keys, %d without expiry %v; the audit stream holds %d entries (trimmed at BOT_AUDIT_MAXLEN)\n",
		r.keys.total, r.keys.persistent, r.keys.byKind, r.keys.auditEntries)
}
