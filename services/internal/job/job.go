// Package job is the contract between the ingress and the worker: the asynq
// queue and task type, the payload a task carries, and how it is encoded.
// Nothing else in the repository defines these.
package job

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

const (
	// Queue is the asynq queue every webhook task goes to.
	Queue = "webhooks"
	// TypeIngest is the asynq task type of a received webhook.
	TypeIngest = "webhook:ingest"
)

// Payload is what the ingress hands the worker for one accepted webhook.
type Payload struct {
	Provider   string            `json:"provider"`
	EventID    string            `json:"eventId"`
	ReceivedAt time.Time         `json:"receivedAt"`
	Body       json.RawMessage   `json:"body"`
	Headers    map[string]string `json:"headers,omitempty"`
}

// ID is the job id of an event: a stable digest of (provider, event id), used
// as the asynq TaskID so a redelivery while the task is queued is refused by
// asynq itself, and returned to the sender as "jobId".
func ID(provider, eventID string) string {
	h := sha256.New()
	h.Write([]byte(provider))
	h.Write([]byte{0})
	h.Write([]byte(eventID))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// NewTask encodes p as an asynq task whose TaskID is ID(p.Provider, p.EventID).
// opts are appended after the contract's own options (queue, task id).
func NewTask(p Payload, opts ...asynq.Option) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode job payload: %w", err)
	}
	opts = append([]asynq.Option{asynq.Queue(Queue), asynq.TaskID(ID(p.Provider, p.EventID))}, opts...)
	return asynq.NewTask(TypeIngest, b, opts...), nil
}

// ErrUndecodable marks a task payload that can never be processed. It wraps
// asynq.SkipRetry so asynq archives the task at once instead of retrying it.
var ErrUndecodable = fmt.Errorf("undecodable webhook task: %w", asynq.SkipRetry)

// Decode reads a task payload. Any failure wraps ErrUndecodable.
func Decode(b []byte) (Payload, error) {
	var p Payload
	if err := json.Unmarshal(b, &p); err != nil {
		return Payload{}, fmt.Errorf("%w: %v", ErrUndecodable, err)
	}
	switch {
	case p.Provider == "":
		return Payload{}, fmt.Errorf("%w: provider missing", ErrUndecodable)
	case p.EventID == "":
		return Payload{}, fmt.Errorf("%w: eventId missing", ErrUndecodable)
	case len(p.Body) == 0: // present means valid: Unmarshal already checked it
		return Payload{}, fmt.Errorf("%w: body is not JSON", ErrUndecodable)
	}
	return p, nil
}

// IsUndecodable reports whether err came from Decode rejecting a payload.
func IsUndecodable(err error) bool { return errors.Is(err, ErrUndecodable) }
