// Package idempotency remembers in Redis which events the worker has already
// persisted, so a redelivered event is acknowledged without touching
// PostgreSQL. It is a fast path only: PostgreSQL's unique constraint is the
// guard, so a lost or expired key can cost a query but never a second row.
package idempotency

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/rueidis"
)

const (
	valueProcessed = "processed"
	keyPrefix      = "webhook:idem:"
)

// Keys reads and writes the idempotency keys.
type Keys struct {
	client rueidis.Client
	ttl    time.Duration // how long "processed" is remembered
}

// NewKeys returns Keys on client. ttl bounds Redis memory: a redelivery after
// it is caught by PostgreSQL instead.
func NewKeys(client rueidis.Client, ttl time.Duration) *Keys {
	return &Keys{client: client, ttl: ttl}
}

// Processed reports, for each job id, whether its event is known to be
// stored, in one pipelined round trip.
func (k *Keys) Processed(ctx context.Context, jobIDs []string) ([]bool, error) {
	cmds := make(rueidis.Commands, len(jobIDs))
	for i, id := range jobIDs {
		cmds[i] = k.client.B().Get().Key(keyPrefix + id).Build()
	}
	out := make([]bool, len(jobIDs))
	for i, res := range k.client.DoMulti(ctx, cmds...) {
		v, err := res.ToString()
		switch {
		case rueidis.IsRedisNil(err):
		case err != nil:
			return nil, fmt.Errorf("read idempotency keys: %w", err)
		default:
			out[i] = v == valueProcessed
		}
	}
	return out, nil
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
