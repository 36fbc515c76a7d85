package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/store"
)

// TestSizing measures bytes on disk per stored event, for the retention
// sizing figures in services/internal/store/README.md. Off unless
// STORE_SIZING=1:
//
//	STORE_SIZING=1 go test -run Sizing -v ./services/internal/store/
func TestSizing(t *testing.T) {
	if os.Getenv("STORE_SIZING") != "1" {
		t.Skip("set STORE_SIZING=1 to measure")
	}
	ctx := context.Background()
	_, st := migrated(t)
	const rows, batch = 100_000, 500
	body := []byte(`{"eventId":"evt","type":"invoice.paid","data":{"amount":1200,"currency":"eur","customer":"cus_123"}}`)
	for i := 0; i < rows; i += batch {
		evs := make([]store.Event, batch)
		for j := range evs {
			evs[j] = store.Event{Provider: "stripe", EventID: fmt.Sprintf("evt_%024d", i+j), EventType: "invoice.paid",
				ContentType: "application/json", Body: body, Payload: json.RawMessage(body),
				Headers:    json.RawMessage(`{"User-Agent":"Stripe/1.0","Stripe-Signature":"t=1,v1=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}`),
				ReceivedAt: time.Now()}
		}
		if _, err := st.Insert(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	s, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d events of %d-byte bodies: events %d B (%d B/event), keys %d B (%d B/event)",
		rows, len(body), s.EventBytes, s.EventBytes/rows, s.KeyBytes, s.KeyBytes/rows)
}
