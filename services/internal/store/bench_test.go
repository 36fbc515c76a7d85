package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/store"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

// BenchmarkInsert256 measures the worker's hot path: one Store.Insert of a
// batch of 256 new events (BATCH_SIZE's default), reported as rows/s.
//
//	go test -run '^$' -bench Insert256 -benchtime 200x ./services/internal/store/
func BenchmarkInsert256(b *testing.B) {
	ctx := context.Background()
	url := testenv.Postgres(b)
	if _, err := store.Migrate(ctx, url); err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(ctx, url, 2)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const size = 256
	body := []byte(`{"eventId":"evt","type":"invoice.paid","data":{"amount":1200,"currency":"eur","customer":"cus_123"}}`)
	batch := make([]store.Event, size)
	b.ResetTimer()
	for i := range b.N {
		now := time.Now()
		for j := range batch {
			batch[j] = store.Event{Provider: "bench", EventID: fmt.Sprintf("%d-%d", i, j), EventType: "invoice.paid",
				ContentType: "application/json", Body: body, Payload: json.RawMessage(body),
				Headers: json.RawMessage(`{"User-Agent":"bench"}`), ReceivedAt: now}
		}
		got, err := st.Insert(ctx, batch)
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != size {
			b.Fatalf("inserted %d, want %d", len(got), size)
		}
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "rows/s")
}
