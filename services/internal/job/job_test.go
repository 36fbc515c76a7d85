package job_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
)

func TestRoundTrip(t *testing.T) {
	p := job.Payload{Provider: "stripe", EventID: "evt_1", ReceivedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		Body: []byte(`{"id":"evt_1"}`), Headers: map[string]string{"User-Agent": "Stripe/1.0"}}
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

func TestIDIsStableAndUnambiguous(t *testing.T) {
	first, again := job.ID("a", "b"), job.ID(string([]byte("a")), string([]byte("b")))
	if first != again {
		t.Error("ID is not deterministic")
	}
	if job.ID("ab", "c") == job.ID("a", "bc") {
		t.Error("ID confuses provider and event id boundaries")
	}
	if len(job.ID("a", "b")) != 32 {
		t.Errorf("ID length = %d, want 32", len(job.ID("a", "b")))
	}
}

func TestDecodeRejectsWithSkipRetry(t *testing.T) {
	for _, b := range []string{``, `nope`, `{}`, `{"provider":"p"}`, `{"provider":"p","eventId":"e"}`} {
		_, err := job.Decode([]byte(b))
		if !errors.Is(err, asynq.SkipRetry) || !job.IsUndecodable(err) {
			t.Errorf("Decode(%q) = %v, want an undecodable SkipRetry error", b, err)
		}
	}
}
