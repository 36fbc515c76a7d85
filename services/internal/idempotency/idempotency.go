// Package idempotency remembers in Redis which events the worker has already
// persisted, so a redelivered task is acknowledged without touching
// PostgreSQL. It is a fast path only: PostgreSQL's unique constraint is the
// guard, so a lost or expired key can cost a query but never a second row.
package idempotency

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/rueidis"
)

// State of an event as recorded in Redis.
type State int

const (
	// Unseen: nothing recorded; the caller now holds a short "processing" claim.
	Unseen State = iota
	// Processing: another attempt claimed it and has not finished (or crashed;
	// the claim expires after the lease). The caller goes on: the insert's ON
	// CONFLICT settles any race, so a stale claim never blocks a retry.
	Processing
	// Processed: the event is in PostgreSQL; the task can be acknowledged.
	Processed
)

const (
	valueProcessing = "processing"
	valueProcessed  = "processed"
	keyPrefix       = "webhook:idem:"
)

// Keys reads and writes the idempotency keys.
type Keys struct {
	client rueidis.Client
	ttl    time.Duration // how long "processed" is remembered
	lease  time.Duration // how long a "processing" claim lives
}

// NewKeys returns Keys on client. ttl bounds Redis memory: a redelivery after it
// is caught by PostgreSQL instead.
func NewKeys(client rueidis.Client, ttl, lease time.Duration) *Keys {
	return &Keys{client: client, ttl: ttl, lease: lease}
}

// Claim records that jobID is being processed, unless it already was, in one
// round trip (SET NX GET), and reports what was there before.
func (k *Keys) Claim(ctx context.Context, jobID string) (State, error) {
	cmd := k.client.B().Set().Key(keyPrefix + jobID).Value(valueProcessing).Nx().Get().Px(k.lease).Build()
	v, err := k.client.Do(ctx, cmd).ToString()
	switch {
	case rueidis.IsRedisNil(err):
		return Unseen, nil
	case err != nil:
		return Unseen, fmt.Errorf("claim idempotency key: %w", err)
	case v == valueProcessed:
		return Processed, nil
	default:
		return Processing, nil
	}
}

// MarkProcessed records every jobID as persisted, in one pipelined round trip.
func (k *Keys) MarkProcessed(ctx context.Context, jobIDs []string) error {
	cmds := make(rueidis.Commands, len(jobIDs))
	for i, id := range jobIDs {
		cmds[i] = k.client.B().Set().Key(keyPrefix + id).Value(valueProcessed).Px(k.ttl).Build()
	}
	for _, res := range k.client.DoMulti(ctx, cmds...) {
		if err := res.Error(); err != nil {
			return fmt.Errorf("mark idempotency keys: %w", err)
		}
	}
	return nil
}

// Forget deletes the key of jobID (for tests and manual replays).
func (k *Keys) Forget(ctx context.Context, jobID string) error {
	return k.client.Do(ctx, k.client.B().Del().Key(keyPrefix+jobID).Build()).Error()
}
