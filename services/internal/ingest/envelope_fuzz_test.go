package ingest

import (
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeEnvelope: the envelope decoder faces the internet. Whatever the
// bytes, it returns either a valid envelope (1–255 char eventId) or an
// *InvalidError, and never panics. Seed corpus: testdata/fuzz/FuzzDecodeEnvelope.
func FuzzDecodeEnvelope(f *testing.F) {
	f.Add([]byte(`{"provider":"stripe","eventId":"evt_1","timestamp":"2026-01-01T00:00:00Z","data":{"a":1}}`), "stripe")
	f.Add([]byte(`{"eventId":""}`), "p")
	f.Add([]byte(`{"eventId":1,"data":[]}`), "p")
	f.Fuzz(func(t *testing.T, body []byte, provider string) {
		e, err := decodeEnvelope(body, provider)
		if err != nil {
			var invalid *InvalidError
			if !errors.As(err, &invalid) {
				t.Fatalf("error is not an *InvalidError: %T %v", err, err)
			}
			return
		}
		if n := utf8.RuneCountInString(e.EventID); n < 1 || n > 255 {
			t.Fatalf("accepted eventId of %d characters", n)
		}
		if e.Provider != nil && *e.Provider != provider {
			t.Fatalf("accepted provider %q for path provider %q", *e.Provider, provider)
		}
	})
}
