// Package job is the contract between the ingress and the worker: the asynq
// queue and task type, the events a task carries, and how they are encoded.
// Nothing else in the repository defines these.
//
// A task carries one or more events: the ingress may put webhooks that
// arrive together into one task, so the queue's per-task cost (an enqueue, a
// dequeue and an acknowledgement, each a Redis script) is paid once per group.
// Everything that means "one webhook" — the job id, idempotency, a row, a dead
// letter — is per event, never per task.
package job

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"slices"
	"time"

	"github.com/hibiken/asynq"
)

const (
	// Queue is the asynq queue every webhook task goes to.
	Queue = "webhooks"
	// TypeIngest is the asynq task type of received webhooks.
	TypeIngest = "webhook:ingest"
)

// Event is one accepted webhook, exactly as received.
type Event struct {
	Provider string
	EventID  string
	// EventType is what the provider says the event is ("" when its profile
	// names no source for it).
	EventType  string
	ReceivedAt time.Time
	// ContentType is the request's Content-Type as sent.
	ContentType string
	// Body holds the exact bytes received, so a stored event re-verifies
	// against the provider's signature and can be forwarded byte for byte.
	Body []byte
	// Headers are the request headers the provider's profile keeps.
	Headers map[string]string
}

// Payload is what one task carries: one or more events.
type Payload struct {
	Events []Event
}

// ID is the job id of an event: a stable digest of (provider, event id),
// returned to the sender as "jobId" and used for idempotency.
func ID(provider, eventID string) string {
	h := sha256.New()
	h.Write([]byte(provider))
	h.Write([]byte{0})
	h.Write([]byte(eventID))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// TaskID is the asynq TaskID of a payload: the event's job id when the task
// carries one event, so asynq itself refuses a redelivery while it is queued;
// for a group, a digest of its members' job ids.
func (p Payload) TaskID() string {
	if len(p.Events) == 1 {
		return ID(p.Events[0].Provider, p.Events[0].EventID)
	}
	h := sha256.New()
	for _, e := range p.Events {
		h.Write([]byte(ID(e.Provider, e.EventID)))
	}
	return "g" + hex.EncodeToString(h.Sum(nil)[:16])
}

// NewTask encodes p as an asynq task with TaskID p.TaskID(). opts are
// appended after the contract's own options (queue, task id).
func NewTask(p Payload, opts ...asynq.Option) (*asynq.Task, error) {
	if len(p.Events) == 0 {
		return nil, errors.New("encode job payload: no events")
	}
	opts = append([]asynq.Option{asynq.Queue(Queue), asynq.TaskID(p.TaskID())}, opts...)
	return asynq.NewTask(TypeIngest, p.Encode(), opts...), nil
}

// formatV1 is the first byte of the binary encoding. Tasks written by
// earlier releases are JSON objects (first byte '{') holding one event; they
// still decode, so a rolling upgrade loses no queued task.
const formatV1 = 1

// Encode writes p in the binary task format: a version byte, the event
// count, then per event its fields length-prefixed (uvarint) in the order
// of Event, ReceivedAt as Unix nanoseconds (varint), and the headers as a
// count and key/value pairs sorted by key. Bodies are copied as they are:
// no base64, no escaping, so a queued event costs its own size in Redis.
func (p Payload) Encode() []byte {
	n := 2
	for _, e := range p.Events {
		n += 64 + len(e.Provider) + len(e.EventID) + len(e.EventType) + len(e.ContentType) + len(e.Body)
		for k, v := range e.Headers {
			n += 4 + len(k) + len(v)
		}
	}
	b := make([]byte, 0, n)
	b = append(b, formatV1)
	b = binary.AppendUvarint(b, uint64(len(p.Events)))
	for _, e := range p.Events {
		b = appendString(b, e.Provider)
		b = appendString(b, e.EventID)
		b = appendString(b, e.EventType)
		b = binary.AppendVarint(b, e.ReceivedAt.UnixNano())
		b = appendString(b, e.ContentType)
		b = appendString(b, string(e.Body))
		keys := make([]string, 0, len(e.Headers))
		for k := range e.Headers {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = binary.AppendUvarint(b, uint64(len(keys)))
		for _, k := range keys {
			b = appendString(b, k)
			b = appendString(b, e.Headers[k])
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// ErrUndecodable marks a task payload that can never be processed. It wraps
// asynq.SkipRetry: retrying cannot help.
var ErrUndecodable = fmt.Errorf("undecodable webhook task: %w", asynq.SkipRetry)

// Decode reads a task payload in either format. Any failure wraps
// ErrUndecodable. Bodies alias b.
func Decode(b []byte) (Payload, error) {
	if len(b) > 0 && b[0] == '{' {
		return decodeJSON(b)
	}
	d := decoder{b: b}
	if v := d.byte(); v != formatV1 {
		return Payload{}, fmt.Errorf("%w: unknown format %d", ErrUndecodable, v)
	}
	count := d.uvarint()
	if d.err != nil || count == 0 || count > uint64(len(b)) {
		return Payload{}, fmt.Errorf("%w: bad event count", ErrUndecodable)
	}
	p := Payload{Events: make([]Event, count)}
	for i := range p.Events {
		e := &p.Events[i]
		e.Provider = d.string()
		e.EventID = d.string()
		e.EventType = d.string()
		e.ReceivedAt = time.Unix(0, d.varint()).UTC()
		e.ContentType = d.string()
		e.Body = d.bytes()
		nh := d.uvarint()
		if nh > uint64(len(b)) {
			d.fail()
		}
		if nh > 0 && d.err == nil {
			e.Headers = make(map[string]string, nh)
			for range nh {
				k := d.string()
				e.Headers[k] = d.string()
			}
		}
		if d.err != nil {
			break
		}
		if e.Provider == "" || e.EventID == "" {
			return Payload{}, fmt.Errorf("%w: event %d has no provider or event id", ErrUndecodable, i)
		}
	}
	if d.err != nil || len(d.b) != 0 {
		return Payload{}, fmt.Errorf("%w: truncated or trailing bytes", ErrUndecodable)
	}
	return p, nil
}

// decodeJSON reads the one-event JSON payload of releases before the binary
// format.
func decodeJSON(b []byte) (Payload, error) {
	var old struct {
		Provider   string            `json:"provider"`
		EventID    string            `json:"eventId"`
		ReceivedAt time.Time         `json:"receivedAt"`
		Body       json.RawMessage   `json:"body"`
		Headers    map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(b, &old); err != nil {
		return Payload{}, fmt.Errorf("%w: %v", ErrUndecodable, err)
	}
	if old.Provider == "" || old.EventID == "" || len(old.Body) == 0 {
		return Payload{}, fmt.Errorf("%w: provider, eventId or body missing", ErrUndecodable)
	}
	return Payload{Events: []Event{{Provider: old.Provider, EventID: old.EventID, ReceivedAt: old.ReceivedAt,
		ContentType: "application/json", Body: old.Body, Headers: old.Headers}}}, nil
}

// decoder reads the binary format; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errors.New("truncated")
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes()) }

// JSON is the event's body as a JSON value, for the payload column: a JSON
// body as it is, a form body (application/x-www-form-urlencoded) as an
// object of its fields (a field sent once is a string, one sent several
// times an array of strings); nil for any other body (text, XML), which is
// kept only as raw bytes.
func (e Event) JSON() (json.RawMessage, error) {
	mt, _, err := mime.ParseMediaType(e.ContentType)
	if err != nil {
		mt = e.ContentType
	}
	switch {
	case IsJSONMediaType(mt):
		return e.Body, nil
	case mt == "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(e.Body))
		if err != nil {
			return nil, fmt.Errorf("form body: %w", err)
		}
		obj := make(map[string]any, len(vals))
		for k, v := range vals {
			if len(v) == 1 {
				obj[k] = v[0]
			} else {
				obj[k] = v
			}
		}
		return json.Marshal(obj)
	}
	return nil, nil
}

// IsJSONMediaType reports whether mt (a media type without parameters) is
// application/json or application/<anything>+json.
func IsJSONMediaType(mt string) bool {
	if mt == "application/json" {
		return true
	}
	const prefix, suffix = "application/", "+json"
	return len(mt) > len(prefix)+len(suffix) && mt[:len(prefix)] == prefix && mt[len(mt)-len(suffix):] == suffix
}
