//go:build faults

package faults

import (
	"encoding/hex"
	"slices"
	"testing"
)

// eventIDsOf reads the job contract's binary format: the contract's golden
// vector (services/internal/job), a group of two built from it, and a JSON
// task of an earlier release.
func TestEventIDsOf(t *testing.T) {
	const one = "0170016501" + "7480a8d6b907106170706c69636174696f6e2f6a736f6e027b7d020141013101420132"
	const two = "0170016601" + "7480a8d6b907106170706c69636174696f6e2f6a736f6e027b7d020141013101420132"
	for _, tt := range []struct {
		payload string
		want    []string
	}{
		{"0101" + one, []string{"e"}},
		{"0102" + one + two, []string{"e", "f"}},
		{hex.EncodeToString([]byte(`{"provider":"p","eventId":"x","body":{}}`)), []string{"x"}},
		{"0102" + one, nil}, // truncated
	} {
		b, err := hex.DecodeString(tt.payload)
		if err != nil {
			t.Fatal(err)
		}
		if got := eventIDsOf(b); !slices.Equal(got, tt.want) {
			t.Errorf("eventIDsOf(%s) = %q, want %q", tt.payload, got, tt.want)
		}
	}
}
