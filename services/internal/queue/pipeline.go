package queue

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// autoPipeline is a go-redis hook that sends the commands of concurrent
// callers to Redis together, in one pipeline: one write and one read system
// call for many requests instead of one pair each. asynq talks to Redis one
// command per task (an EVALSHA per enqueue, dequeue or ack), and on this
// project's machines a system call costs more than the rest of the request;
// go-redis v9 has no auto-pipelining of its own.
//
// Nothing waits to fill a batch: a command finding the pipeliners idle goes
// out alone at once; commands arriving while a pipeline is on the wire go in
// the next one. Each caller still gets its own command's result and error,
// and waits for it (a command is never abandoned mid-flight, so asynq never
// reads a result being written). Blocking commands must not go through it;
// asynq uses none.
//
// The pipeliners live until stop (Client.Close): it lets the commands
// already handed over finish, waits for the pipeliners to return, and from
// then on the hook answers redis.ErrClosed.
//
// What the hook assumes of go-redis is pinned by TestGoRedisInternals.
type autoPipeline struct {
	client *redis.Client
	in     chan *pipelined
	// installing is true only while the hook is added to the client: go-redis
	// also builds hook chains for the connections it initialises (HELLO,
	// SELECT), and those commands must go straight to their connection.
	installing atomic.Bool

	// mu is held for reading while a command is handed to the pipeliners,
	// and for writing by stop to close in: nothing is sent on a closed
	// channel, and nothing is left in it once the pipeliners are gone.
	mu      sync.RWMutex
	stopped bool
	running sync.WaitGroup
}

type pipelined struct {
	ctx  context.Context
	cmd  redis.Cmder
	done chan struct{}
}

// maxPipeline bounds one pipeline; more waiting commands go in the next.
const maxPipeline = 128

var pipelinedPool = sync.Pool{New: func() any { return &pipelined{done: make(chan struct{}, 1)} }}

// enableAutoPipeline adds the hook to c and starts n pipeliners, each using
// one connection of c's pool at a time, until stop. An idle pipeliner is a
// goroutine blocked on a channel.
func enableAutoPipeline(c *redis.Client, n int) *autoPipeline {
	p := &autoPipeline{client: c, in: make(chan *pipelined, maxPipeline)}
	p.installing.Store(true)
	c.AddHook(p)
	p.installing.Store(false)
	for range max(n, 1) {
		p.running.Add(1)
		go func() {
			defer p.running.Done()
			p.run()
		}()
	}
	return p
}

// stop lets the commands already handed to the pipeliners finish, then waits
// for the pipeliners to return. Commands arriving afterwards fail with
// redis.ErrClosed. The client must still be open until stop returns.
func (p *autoPipeline) stop() {
	p.mu.Lock()
	if !p.stopped {
		p.stopped = true
		close(p.in)
	}
	p.mu.Unlock()
	p.running.Wait()
}

func (p *autoPipeline) DialHook(next redis.DialHook) redis.DialHook { return next }

func (p *autoPipeline) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (p *autoPipeline) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	if !p.installing.Load() {
		return next
	}
	return func(ctx context.Context, cmd redis.Cmder) error {
		if ctx.Value(aloneKey{}) != nil {
			return next(ctx, cmd)
		}
		p.mu.RLock()
		if p.stopped {
			p.mu.RUnlock()
			return redis.ErrClosed
		}
		pd := pipelinedPool.Get().(*pipelined)
		pd.ctx, pd.cmd = ctx, cmd
		select {
		case p.in <- pd:
			p.mu.RUnlock()
		case <-ctx.Done():
			p.mu.RUnlock()
			pd.ctx, pd.cmd = nil, nil
			pipelinedPool.Put(pd)
			return ctx.Err()
		}
		<-pd.done
		err := cmd.Err()
		pd.ctx, pd.cmd = nil, nil
		pipelinedPool.Put(pd)
		return err
	}
}

func (p *autoPipeline) run() {
	batch := make([]*pipelined, 0, maxPipeline)
	for first := range p.in {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxPipeline {
			select {
			case pd, ok := <-p.in:
				if !ok { // stopped: this batch is the last
					break fill
				}
				batch = append(batch, pd)
			default:
				break fill
			}
		}
		p.exec(batch)
	}
}

func (p *autoPipeline) exec(batch []*pipelined) {
	if len(batch) == 1 {
		// Alone: the plain path, no pipeline bookkeeping.
		pd := batch[0]
		_ = p.client.Process(context.WithValue(pd.ctx, aloneKey{}, true), pd.cmd)
		pd.done <- struct{}{}
		return
	}
	// The commands' own contexts only bounded their wait to get in; once
	// sent, the client's read/write timeouts bound the pipeline.
	_, err := p.client.Pipelined(context.Background(), func(pipe redis.Pipeliner) error {
		for _, pd := range batch {
			_ = pipe.Process(context.Background(), pd.cmd)
		}
		return nil
	})
	var replyErr redis.Error
	failed := err != nil && !errors.As(err, &replyErr)
	for _, pd := range batch {
		// go-redis leaves the commands untouched when it gave up dialing: a
		// command with neither error nor reply must not look successful.
		if failed && pd.cmd.Err() == nil {
			pd.cmd.SetErr(err)
		}
		pd.done <- struct{}{}
	}
}

// aloneKey marks a command the pipeliner sends on its own: it goes through
// the hook straight to the connection.
type aloneKey struct{}
