package store

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Notifier wakes readers when rows may have been committed: the
// webhook_events_notify trigger sends one notification per inserting
// statement, and Listen turns each into a wake-up of every waiter.
type Notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

// NewNotifier makes a Notifier; run Listen to feed it.
func NewNotifier() *Notifier { return &Notifier{ch: make(chan struct{})} }

// C returns a channel closed at the next wake-up. Take it before reading,
// so a commit between the read and the wait is not missed.
func (n *Notifier) C() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

// Wake wakes every waiter.
func (n *Notifier) Wake() {
	n.mu.Lock()
	defer n.mu.Unlock()
	close(n.ch)
	n.ch = make(chan struct{})
}

// Listen holds one connection of its own (outside the pool) listening on
// the webhook_events channel and wakes n on each notification, until ctx
// ends. A lost connection is re-established after retry; waiters are woken
// on each (re)connect, since notifications sent meanwhile are lost.
func (s *Store) Listen(ctx context.Context, n *Notifier, retry time.Duration) {
	for ctx.Err() == nil {
		_ = s.listen(ctx, n)
		select {
		case <-ctx.Done():
		case <-time.After(retry):
		}
	}
}

func (s *Store) listen(ctx context.Context, n *Notifier) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "listen webhook_events"); err != nil {
		return err
	}
	n.Wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		n.Wake()
	}
}
