package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestUnstorableJSONIsRefused: what PostgreSQL's jsonb would refuse gets a
// precise 400 here instead of a 202 and a dead letter later.
func TestUnstorableJSONIsRefused(t *testing.T) {
	srv := newEdgeServer(t, nil, nil)
	for _, c := range []struct{ name, body, detail string }{
		{"huge exponent", `{"eventId":"n1","data":{"amount":1e1000000}}`, "the number 1e1000000 is outside the range PostgreSQL can store"},
		{"tiny exponent", `{"eventId":"n2","data":[1e-16384]}`, "the number 1e-16384 is outside"},
		{"scale from the exponent", `{"eventId":"n3","data":{"x":100e-16385}}`, "the number 100e-16385 is outside"},
		{"NUL escape", `{"eventId":"n4","data":{"s":"a\u0000"}}`, `\u0000`},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := srv.do(t, http.MethodPost, "/webhooks/p", nil, c.body)
			if w.Code != 400 {
				t.Fatalf("status %d, want 400: %s", w.Code, w.Body)
			}
			p := decodeProblem(t, w)
			if p.Type != typeInvalid || !strings.Contains(p.Detail, c.detail) {
				t.Errorf("problem %+v, want detail containing %q", p, c.detail)
			}
			if srv.pending() != 0 {
				t.Error("queued")
			}
		})
	}
	// The largest storable numbers are accepted.
	w := srv.do(t, http.MethodPost, "/webhooks/p", nil, `{"eventId":"n5","data":{"big":9.99e131071,"small":1e-16383}}`)
	if w.Code != 202 {
		t.Fatalf("status %d, want 202: %s", w.Code, w.Body)
	}
}
