package job_test

import (
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
)

func event(id string) job.Event {
	return job.Event{Provider: "stripe", EventID: id, EventType: "invoice.paid",
		ReceivedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), ContentType: "application/json",
		Body: []byte(`{"id":"` + id + `"}`), Headers: map[string]string{"User-Agent": "Stripe/1.0", "X-A": ""}}
}

func TestRoundTrip(t *testing.T) {
	for _, p := range []job.Payload{
		{Events: []job.Event{event("evt_1")}},
		{Events: []job.Event{event("evt_1"), event("evt_2"), {Provider: "p", EventID: "e", Body: []byte{0, 1, 2}, ReceivedAt: time.Unix(0, 0).UTC()}}},
	} {
		task, err := job.NewTask(p)
		if err != nil {
			t.Fatal(err)
		}
		if task.Type() != job.TypeIngest {
			t.Errorf("type = %s", task.Type())
		}
		got, err := job.Decode(task.Payload())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(p, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
}

// The golden vector pins the contract: the load runner and the audit treat
// the service as a black box, and tasks already queued must still decode
// after an upgrade. Changing either value is a breaking change of the queue
// format: add a new format byte instead.
func TestGoldenVector(t *testing.T) {
	if got, want := job.ID("stripe", "evt_1"), "a614a71e404480d5e8d3f202d01788f3"; got != want {
		t.Errorf("ID(stripe, evt_1) = %s, want %s", got, want)
	}
	p := job.Payload{Events: []job.Event{{Provider: "p", EventID: "e", EventType: "t",
		ReceivedAt: time.Unix(1, 0), ContentType: "application/json", Body: []byte(`{}`),
		Headers: map[string]string{"B": "2", "A": "1"}}}}
	if got, want := hex.EncodeToString(p.Encode()), "010101700165017480a8d6b907106170706c69636174696f6e2f6a736f6e027b7d020141013101420132"; got != want {
		t.Errorf("Encode = %s, want %s", got, want)
	}
}

// Tasks queued by releases that wrote JSON payloads still decode.
func TestDecodesTheJSONFormat(t *testing.T) {
	got, err := job.Decode([]byte(`{"provider":"stripe","eventId":"evt_1","receivedAt":"2026-01-02T03:04:05Z","body":{"id":"evt_1"},"headers":{"User-Agent":"x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := job.Payload{Events: []job.Event{{Provider: "stripe", EventID: "evt_1", ReceivedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		ContentType: "application/json", Body: []byte(`{"id":"evt_1"}`), Headers: map[string]string{"User-Agent": "x"}}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestTaskID(t *testing.T) {
	one := job.Payload{Events: []job.Event{event("a")}}
	if one.TaskID() != job.ID("stripe", "a") {
		t.Error("a one-event task's id is not the event's job id")
	}
	ab := job.Payload{Events: []job.Event{event("a"), event("b")}}
	ba := job.Payload{Events: []job.Event{event("b"), event("a")}}
	if ab.TaskID() == one.TaskID() || ab.TaskID() == ba.TaskID() || ab.TaskID() != (job.Payload{Events: []job.Event{event("a"), event("b")}}).TaskID() {
		t.Error("group task ids must be deterministic and distinct")
	}
	if _, err := job.NewTask(job.Payload{}); err == nil {
		t.Error("a task with no event was encoded")
	}
}

func TestIDIsStableAndUnambiguous(t *testing.T) {
	if job.ID("ab", "c") == job.ID("a", "bc") {
		t.Error("ID confuses provider and event id boundaries")
	}
	if len(job.ID("a", "b")) != 32 {
		t.Errorf("ID length = %d, want 32", len(job.ID("a", "b")))
	}
}

func TestDecodeRejectsWithSkipRetry(t *testing.T) {
	good := (job.Payload{Events: []job.Event{event("x")}}).Encode()
	for _, b := range [][]byte{nil, []byte(`nope`), []byte(`{}`), []byte(`{"provider":"p"}`), []byte(`{"provider":"p","eventId":"e"}`),
		{9}, {1}, {1, 0}, good[:len(good)-1], append(good[:len(good):len(good)], 0), {1, 1, 0, 0, 0}} {
		_, err := job.Decode(b)
		if !errors.Is(err, asynq.SkipRetry) || !errors.Is(err, job.ErrUndecodable) {
			t.Errorf("Decode(%q) = %v, want an undecodable SkipRetry error", b, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add((job.Payload{Events: []job.Event{event("x"), event("y")}}).Encode())
	f.Add([]byte(`{"provider":"p","eventId":"e","body":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := job.Decode(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to something that decodes the same
		// (a time outside int64 nanoseconds is the one lossy field).
		for i, e := range p.Events {
			p.Events[i].ReceivedAt = time.Unix(0, e.ReceivedAt.UnixNano()).UTC()
		}
		again, err := job.Decode(p.Encode())
		if err != nil {
			t.Fatalf("re-encoded payload does not decode: %v", err)
		}
		if diff := cmp.Diff(p, again); diff != "" {
			t.Fatalf("re-encode changed the payload:\n%s", diff)
		}
	})
}

func TestEventJSON(t *testing.T) {
	for _, tt := range []struct{ ct, body, want string }{
		{"application/json", `{"a":1}`, `{"a":1}`},
		{"application/vnd.x+json; charset=utf-8", `[1]`, `[1]`},
		{"application/x-www-form-urlencoded", `a=1&b=2&b=3`, `{"a":"1","b":["2","3"]}`},
		{"text/plain", `hello`, ``},
		{"application/xml", `<a/>`, ``},
	} {
		got, err := job.Event{ContentType: tt.ct, Body: []byte(tt.body)}.JSON()
		if err != nil || string(got) != tt.want {
			t.Errorf("JSON(%s, %s) = %s, %v; want %s", tt.ct, tt.body, got, err, tt.want)
		}
	}
	if _, err := (job.Event{ContentType: "application/x-www-form-urlencoded", Body: []byte("a=%zz")}).JSON(); err == nil {
		t.Error("a malformed form body was accepted")
	}
}
