package jsonguard_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/jsonguard"
)

// benchBodies are what the ingress sees: the seed envelope of the load
// runner's size, a body of numbers, and a GitHub issues.opened delivery
// (6.3 kB, compact, with non-ASCII text and escapes, shaped like GitHub's
// documented example).
func benchBodies(b *testing.B) []struct {
	name string
	body []byte
} {
	github, err := os.ReadFile("testdata/github_issues_opened.json")
	if err != nil {
		b.Fatal(err)
	}
	return []struct {
		name string
		body []byte
	}{
		{"envelope", []byte(`{"provider":"stripe","eventId":"bench-1","timestamp":"2026-11-29T10:00:00Z","data":{"type":"payment.succeeded","amount":4242,"currency":"eur"}}`)},
		{"numbers", []byte(`{"eventId":"evt-1","timestamp":"2026-01-01T00:00:00Z","data":{"amount":4200,"rate":0.125,"items":[1,2,3,4,5,6,7,8,9,10]}}`)},
		{"github", github},
	}
}

func BenchmarkCheck(b *testing.B) {
	for _, c := range benchBodies(b) {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := jsonguard.Check(c.body, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStdlibValid is what a second pass with encoding/json.Valid would
// add to Check.
func BenchmarkStdlibValid(b *testing.B) {
	for _, c := range benchBodies(b) {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for b.Loop() {
				if !json.Valid(c.body) {
					b.Fatal("invalid")
				}
			}
		})
	}
}
