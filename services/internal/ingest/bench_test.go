package ingest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/invopop/validation"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
)

// A seed envelope of the size the load runner sends.
var benchBody = []byte(`{"provider":"stripe","eventId":"3f6c1a2b9e7d-123456","timestamp":"2026-11-29T10:00:00.123456789Z","data":{"type":"payment.succeeded","amount":4242,"currency":"eur","customer":"cus_1234","seq":123456}}`)

// BenchmarkDecodeEnvelope is decode + validate of the seed envelope, the
// per-request parsing cost of the ingress.
func BenchmarkDecodeEnvelope(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		if _, err := decodeEnvelope(benchBody, "stripe"); err != nil {
			b.Fatal(err)
		}
	}
}

type nopQueue struct{}

func (nopQueue) Enqueue(_ context.Context, _ job.Event) (string, bool, error) {
	return "", false, nil
}

// BenchmarkAccept is everything the ingress does to a request between
// reading the body and Redis: name check, profile, JSON guard, decode,
// validate, building the job (the enqueue itself is a no-op here; see the
// ingress's BenchmarkWebhook for the real Redis round trip).
func BenchmarkAccept(b *testing.B) {
	s := NewService(nopQueue{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	h := http.Header{"Content-Type": {"application/json"}, "User-Agent": {"bench"}}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		if _, err := s.Accept(context.Background(), Request{Provider: "stripe", Header: h, Body: benchBody}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJobEncode is the job payload the ingress hands to asynq.
func BenchmarkJobEncode(b *testing.B) {
	p := job.Payload{Events: []job.Event{{Provider: "stripe", EventID: "3f6c1a2b9e7d-" + strconv.Itoa(123456), ContentType: "application/json",
		Body: benchBody, Headers: map[string]string{"User-Agent": "bench"}}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := job.NewTask(p); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzValidFastPath: the hand-written fast path never accepts an envelope
// the validation rules refuse.
func FuzzValidFastPath(f *testing.F) {
	f.Add(`{"eventId":"e","timestamp":"2026-01-02T03:04:05Z","data":{},"provider":"p"}`, "p")
	f.Add(`{"eventId":"","timestamp":"2026-01-02T03:04:05+01:00","data":[]}`, "p")
	f.Add(`{"eventId":"é","timestamp":"","data":null,"provider":"q"}`, "p")
	f.Fuzz(func(t *testing.T, body, provider string) {
		var e envelope
		if json.Unmarshal([]byte(body), &e) != nil || !e.valid(provider) {
			return
		}
		err := validation.ValidateStruct(&e,
			validation.Field(&e.EventID, validation.Required, validation.Length(1, 255)),
			validation.Field(&e.Timestamp, validation.NilOrNotEmpty, validation.Date(time.RFC3339)),
			validation.Field(&e.Data, validation.By(jsonObject)),
			validation.Field(&e.Provider, validation.By(equal(provider))),
		)
		if err != nil {
			t.Errorf("fast path accepted %q for %q; the rules say %v", body, provider, err)
		}
	})
}
