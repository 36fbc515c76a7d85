package queue

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

// TestGoRedisInternals pins what autoPipeline assumes of go-redis beyond
// its documented API, so that an upgrade changing any of it fails here, by
// name, rather than as a hang or a wrong reply under load.
func TestGoRedisInternals(t *testing.T) {
	rdb := testenv.Redis(t)
	if rdb.DB == 0 {
		t.Fatal("testenv handed out database 0: connections would send no SELECT")
	}
	ctx := context.Background()

	// AddHook calls ProcessHook once, there and then, to build the chain
	// Client.Process runs; the connections go-redis initialises (HELLO,
	// SELECT, CLIENT SETINFO) build chains of their own from the same hooks
	// later. The hook wraps only the chain built inside AddHook (installing),
	// so connection set-up never waits for a pipeliner that may itself be
	// waiting for that connection.
	t.Run("AddHook builds the client's chain; connection set-up builds its own", func(t *testing.T) {
		c := redis.NewClient(&redis.Options{Addr: rdb.Addr, DB: rdb.DB, PoolSize: 2})
		defer c.Close()
		probe := &probeHook{}
		probe.installing.Store(true)
		c.AddHook(probe)
		probe.installing.Store(false)
		if n := probe.built.Load(); n != 1 {
			t.Fatalf("AddHook called ProcessHook %d times, want 1 (the client's chain, built there and then)", n)
		}
		if err := c.Set(ctx, "pin", "1", 0).Err(); err != nil {
			t.Fatal(err)
		}
		seen := probe.names()
		if !slices.Equal(seen, []string{"set"}) {
			t.Errorf("the chain built in AddHook saw %q, want only the caller's [set] (connection set-up must not go through it)", seen)
		}
		if probe.built.Load() < 2 {
			t.Error("a new connection did not build a hook chain of its own: set-up commands would go through the client's chain")
		}
	})

	// A reply error inside a pipeline stays with its command: Pipelined
	// returns the first one as a redis.Error and the other commands keep
	// their results. exec tells this apart from a failed round trip by
	// that type, and hands each caller its own command's error.
	t.Run("a reply error in a pipeline is per command", func(t *testing.T) {
		c := redis.NewClient(&redis.Options{Addr: rdb.Addr, DB: rdb.DB, PoolSize: 2})
		defer c.Close()
		set := redis.NewStatusCmd(ctx, "set", "a", "1")
		bad := redis.NewCmd(ctx, "evalsha", "0000000000000000000000000000000000000000", "0")
		get := redis.NewStringCmd(ctx, "get", "a")
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, cmd := range []redis.Cmder{set, bad, get} {
				_ = p.Process(ctx, cmd)
			}
			return nil
		})
		var replyErr redis.Error
		if !errors.As(err, &replyErr) {
			t.Fatalf("Pipelined with a NOSCRIPT reply returned %v (%T), want a redis.Error", err, err)
		}
		if !redis.HasErrorPrefix(bad.Err(), "NOSCRIPT") {
			t.Errorf("the failing command's own error = %v, want NOSCRIPT (Script.Run falls back to EVAL on it)", bad.Err())
		}
		if set.Err() != nil || get.Val() != "1" || get.Err() != nil {
			t.Errorf("the other commands: SET %v, GET %q %v; want their own results", set.Err(), get.Val(), get.Err())
		}
	})

	// A round trip that never happened (nothing answers) is an error that
	// is not a redis.Error; whether go-redis also sets it on the commands
	// varies, and exec sets it where it did not.
	t.Run("a failed round trip is not a redis.Error", func(t *testing.T) {
		c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", PoolSize: 1, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
		defer c.Close()
		ping := redis.NewStatusCmd(ctx, "ping")
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error { return p.Process(ctx, ping) })
		var replyErr redis.Error
		if err == nil || errors.As(err, &replyErr) {
			t.Errorf("Pipelined to nothing returned %v (%T), want an error that is not a redis.Error", err, err)
		}
	})

	// Client.Process runs the client's chain again for a command the hook
	// sends itself (exec's lone command, marked aloneKey), and returns the
	// command's error as the chain returned it.
	t.Run("Client.Process from inside the hook re-enters the chain", func(t *testing.T) {
		c := redis.NewClient(&redis.Options{Addr: rdb.Addr, DB: rdb.DB, PoolSize: 2})
		defer c.Close()
		probe := &probeHook{reenter: c}
		probe.installing.Store(true)
		c.AddHook(probe)
		probe.installing.Store(false)
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if seen := probe.names(); !slices.Equal(seen, []string{"ping", "ping"}) {
			t.Errorf("the chain saw %q, want [ping ping] (the caller's, then the hook's own)", seen)
		}
	})
}

// probeHook records the commands going through the chain built while
// installing is true, as autoPipeline wraps only that one. With reenter,
// it sends each command again through reenter.Process, marked aloneKey.
type probeHook struct {
	installing atomic.Bool
	built      atomic.Int32
	reenter    *redis.Client
	mu         sync.Mutex
	seen       []string
}

func (p *probeHook) names() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.seen)
}

func (p *probeHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (p *probeHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (p *probeHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	p.built.Add(1)
	if !p.installing.Load() {
		return next
	}
	return func(ctx context.Context, cmd redis.Cmder) error {
		p.mu.Lock()
		p.seen = append(p.seen, cmd.Name())
		p.mu.Unlock()
		if p.reenter != nil && ctx.Value(aloneKey{}) == nil {
			return p.reenter.Process(context.WithValue(ctx, aloneKey{}, true), cmd)
		}
		return next(ctx, cmd)
	}
}
