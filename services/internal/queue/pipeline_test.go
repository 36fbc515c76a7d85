package queue

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/config"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

func pipelinedClient(t *testing.T) *Client {
	t.Helper()
	rdb := testenv.Redis(t)
	c := NewRedis(config.Redis{Addr: rdb.Addr, DB: rdb.DB, PoolSize: 8, Timeout: 2 * time.Second, Pipelines: 2})
	t.Cleanup(func() { c.Close() })
	return c
}

// Many concurrent callers, each must get its own command's answer.
func TestAutoPipelineResults(t *testing.T) {
	c := pipelinedClient(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for g := range 200 {
		wg.Go(func() {
			key := "k" + strconv.Itoa(g)
			if err := c.Set(ctx, key, g, 0).Err(); err != nil {
				errs <- err
				return
			}
			v, err := c.Get(ctx, key).Int()
			if err != nil || v != g {
				errs <- fmt.Errorf("GET %s = %d, %v; want %d", key, v, err, g)
			}
			if _, err := c.Get(ctx, "missing-"+key).Result(); err != redis.Nil {
				errs <- fmt.Errorf("GET missing = %v, want redis.Nil", err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// asynq runs Lua through Script.Run: EVALSHA, then EVAL on NOSCRIPT. The
// per-command error must reach the caller for that fallback to work.
func TestAutoPipelineScriptFallback(t *testing.T) {
	c := pipelinedClient(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 50 {
		wg.Go(func() {
			s := redis.NewScript(fmt.Sprintf("return %d + tonumber(ARGV[1])", g))
			v, err := s.Run(ctx, c, nil, 1).Int()
			if err != nil || v != g+1 {
				t.Errorf("script %d = %d, %v", g, v, err)
			}
		})
	}
	wg.Wait()
}

func TestAutoPipelineErrors(t *testing.T) {
	c := pipelinedClient(t)
	ctx := context.Background()
	if err := c.Do(ctx, "NOSUCHCOMMAND").Err(); err == nil {
		t.Error("an unknown command succeeded")
	}
	if err := c.Set(ctx, "after", 1, 0).Err(); err != nil {
		t.Errorf("the client is broken after an error reply: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.Ping(cancelled).Err(); err == nil {
		t.Error("a cancelled context was ignored")
	}

	// A Redis that does not answer: every caller gets an error, none hangs.
	dead := NewRedis(config.Redis{Addr: "127.0.0.1:1", PoolSize: 2, Timeout: 200 * time.Millisecond, Pipelines: 1})
	defer dead.Close()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := dead.Ping(ctx).Err(); err == nil {
				t.Error("PING to nothing succeeded")
			}
		})
	}
	wg.Wait()
}

// pipeliners counts the goroutines an auto-pipeline started, running or
// about to.
func pipeliners() int {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "created by github.com/webhook-ingestor/webhook-ingestor/services/internal/queue.enableAutoPipeline")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// Close stops the pipeliners and waits for them: none outlives its client,
// the commands in flight when Close is called finish, and later ones fail
// fast instead of waiting for a pipeliner that is gone.
func TestAutoPipelineClose(t *testing.T) {
	rdb := testenv.Redis(t)
	before := pipeliners()
	c := NewRedis(config.Redis{Addr: rdb.Addr, DB: rdb.DB, PoolSize: 8, Timeout: 2 * time.Second, Pipelines: 3})
	if n := pipeliners() - before; n != 3 {
		t.Fatalf("%d pipeliners running with REDIS_PIPELINES=3", n)
	}
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ok, closed, other sync.Map
	for g := range 32 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				err := c.Set(ctx, "k"+strconv.Itoa(g), i, 0).Err()
				switch {
				case err == nil:
					ok.Store(g, true)
				case errors.Is(err, redis.ErrClosed):
					closed.Store(g, true)
				default:
					other.Store(g, err)
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond) // let commands flow through the pipeliners
	done := make(chan error)
	go func() { done <- c.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return while commands were in flight")
	}
	if n := pipeliners() - before; n != 0 {
		t.Errorf("%d pipeliners still running after Close returned", n)
	}
	// Callers still sending after Close get an error at once.
	time.Sleep(20 * time.Millisecond)
	close(stop)
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Fatal("a command sent around Close never returned")
	}
	count := func(m *sync.Map) (n int) {
		m.Range(func(any, any) bool { n++; return true })
		return n
	}
	if count(&ok) == 0 || count(&closed) == 0 {
		t.Errorf("%d callers succeeded before Close and %d got ErrClosed after it; want both", count(&ok), count(&closed))
	}
	other.Range(func(g, err any) bool {
		t.Errorf("caller %v: %v (want nil or redis.ErrClosed)", g, err)
		return true
	})
	if err := c.Ping(ctx).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Errorf("PING after Close = %v, want redis.ErrClosed", err)
	}
	if err := c.Close(); err == nil {
		t.Error("a second Close reported nothing (go-redis says the client is already closed)")
	}
}

func BenchmarkEnqueueLike(b *testing.B) {
	for _, pipelines := range []int{0, 2} {
		b.Run("pipelines="+strconv.Itoa(pipelines), func(b *testing.B) {
			rdb := testenv.Redis(b)
			c := NewRedis(config.Redis{Addr: rdb.Addr, DB: rdb.DB, PoolSize: 64, Timeout: 2 * time.Second, Pipelines: pipelines})
			defer c.Close()
			s := redis.NewScript(`redis.call("HSET", KEYS[1], "msg", ARGV[1]) return redis.call("LPUSH", KEYS[2], KEYS[1])`)
			ctx := context.Background()
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.Run(ctx, c, []string{"t", "l"}, "payload").Err(); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
