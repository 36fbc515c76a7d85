package jsonguard_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/jsonguard"
)

func TestCheck(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	manyKeys := func(n int, dupAt int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteString(",")
			}
			k := i
			if i == dupAt {
				k = 0
			}
			b.WriteString(`"k` + strings.Repeat("x", k) + `":1`)
		}
		b.WriteString("}")
		return b.String()
	}
	for _, tc := range []struct {
		name, body string
		wantField  string
		wantErr    bool
	}{
		{"envelope", `{"provider":"stripe","eventId":"evt_1","timestamp":"2026-01-01T00:00:00Z","data":{"a":[1,2,{"b":"ü€😀"}]}}`, "", false},
		{"same key at other depths", `{"a":{"a":1,"a":2},"b":[{"a":1},{"a":1}]}`, "", false},
		{"key-like values", `{"a":"a","b":"a"}`, "", false},
		{"strings with quotes and braces", `{"a":"}\"{,\"a\":","b":"\\"}`, "", false},
		{"paired surrogates", `{"a":"\ud83d\ude00"}`, "", false},
		{"top-level array", `[{"a":1},{"a":1}]`, "", false},
		{"depth at limit", deep(64), "", false},
		{"depth over limit", deep(65), "", true},
		{"deep object", strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100), "", true},
		{"duplicate eventId", `{"eventId":"a","data":{},"eventId":"b"}`, "eventId", true},
		{"duplicate escaped", `{"eventId":"a","event\u0049d":"b"}`, "eventId", true},
		{"duplicate escaped slash", `{"a\/b":1,"a/b":2}`, "a/b", true},
		{"case variant eventId", `{"eventId":"a","data":{},"EventID":"b"}`, "EventID", true},
		{"case variant id", `{"id":"evt_a","ID":"evt_b"}`, "ID", true},
		{"case variant escaped", `{"id":"a","\u0049D":"b"}`, "ID", true},
		{"dotted capital I reads as I", `{"id":"a","İd":"b"}`, "İd", true},
		{"kelvin sign reads as K", `{"k":"a","K":"b"}`, "K", true},
		{"case variant among many keys", manyKeys(40, -1)[:len(manyKeys(40, -1))-1] + `,"KXX":2}`, "KXX", true},
		{"distinct keys differing beyond case", `{"ab":1,"aB1":2,"a_b":3}`, "", false},
		{"many keys no dup", manyKeys(100, -1), "", false},
		{"empty key twice", `{"":1,"":2}`, "(empty key)", true},
		{"many keys dup", manyKeys(100, 77), "k", true},
		{"invalid utf-8 in string", "{\"a\":\"\xff\"}", "", true},
		{"invalid utf-8 outside", "{\"a\":1}\xc3", "", true},
		{"overlong utf-8", "{\"a\":\"\xc0\xaf\"}", "", true},
		{"utf-16 surrogate as utf-8", "{\"a\":\"\xed\xa0\x80\"}", "", true},
		{"nul escape", `{"a":"x\u0000y"}`, "", true},
		{"lone high surrogate", `{"a":"\ud800"}`, "", true},
		{"high then non-low", `{"a":"\ud800\u0041"}`, "", true},
		{"lone low surrogate", `{"a":"\udc00"}`, "", true},
		{"unterminated", `{"a":"abc`, "", true},
		{"bad escape hex", `{"a":"\u12G4"}`, "", true},
		{"escape at end", `{"a":"\`, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := jsonguard.Check([]byte(tc.body), 0)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Check = %v, want error %v", err, tc.wantErr)
			}
			var gerr *jsonguard.Error
			if err != nil && (!errors.As(err, &gerr) || gerr.Field != tc.wantField) {
				t.Fatalf("Check = %#v, want field %q", err, tc.wantField)
			}
		})
	}
}

func TestCheckAllocs(t *testing.T) {
	body := []byte(`{"provider":"stripe","eventId":"evt_1","timestamp":"2026-01-01T00:00:00Z","data":{"a":[1,2,{"b":"ü"}]}}`)
	if n := testing.AllocsPerRun(100, func() { _ = jsonguard.Check(body, 0) }); n != 0 {
		t.Errorf("Check allocates %v times", n)
	}
}

// FuzzCheck: never panics, and whatever Go's decoder accepts with distinct
// keys and valid UTF-8 ... is not refused for the wrong reason.
func FuzzCheck(f *testing.F) {
	f.Add([]byte(`{"provider":"p","eventId":"e","data":{}}`))
	f.Add([]byte(`{"eventId":"a","event\u0049d":"b"}`))
	f.Add([]byte(`{"a":"\ud83d\ude00","b":"\u0000"}`))
	f.Add([]byte(`{"ID":"b","data":{}}`))
	f.Add([]byte(`{"id":"a","Id":"b"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		err := jsonguard.Check(b, 8)
		if err == nil {
			noCaseDifferential(t, b)
			return
		}
		var gerr *jsonguard.Error
		if !errors.As(err, &gerr) {
			t.Fatalf("not an *Error: %v", err)
		}
		if gerr.Reason == "duplicate key" {
			// A reported duplicate must really be one for Go's decoder too.
			var m map[string]json.RawMessage
			if json.Unmarshal(b, &m) == nil && json.Valid(b) {
				if _, ok := m[gerr.Field]; !ok && len(gerr.Field) < 64 && gerr.Field != "(key)" && gerr.Field != "(empty key)" {
					t.Fatalf("duplicate %q reported but not a key", gerr.Field)
				}
			}
		}
	})
}

// noCaseDifferential: for a body Check accepts that has an exact "id" or
// "eventId" key, Go's case-insensitive struct decoding reads that key's
// value, not a case variant's.
func noCaseDifferential(t *testing.T, b []byte) {
	var exact map[string]json.RawMessage
	var folded struct {
		ID      json.RawMessage `json:"id"`
		EventID json.RawMessage `json:"eventId"`
	}
	if json.Unmarshal(b, &exact) != nil || json.Unmarshal(b, &folded) != nil {
		return
	}
	for key, got := range map[string]json.RawMessage{"id": folded.ID, "eventId": folded.EventID} {
		if want, ok := exact[key]; ok && !bytes.Equal(got, want) {
			t.Fatalf("Check accepted %q, where a case-insensitive reader takes %s for %q and an exact one %s", b, got, key, want)
		}
	}
}
