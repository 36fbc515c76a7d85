package signature

import (
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The header parsers face the internet: they must never panic, return only
// ErrInvalid on failure, and never report more candidates than they hold.
// Seed corpora live in testdata/fuzz/<FuzzName>/.

func FuzzParseStripeHeader(f *testing.F) {
	f.Add("t=1492774577,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39")
	f.Add("t=1,v1=" + strings.Repeat("ab", 32))
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		var sigs [maxSignatures][sha256.Size]byte
		ts, raw, n, err := ParseStripeHeader(v, &sigs)
		if err != nil {
			if err != ErrInvalid || n != 0 || raw != "" || ts != 0 {
				t.Fatalf("failure must be (0, \"\", 0, ErrInvalid), got (%d, %q, %d, %v)", ts, raw, n, err)
			}
			return
		}
		if n < 1 || n > maxSignatures || ts < 0 || !strings.Contains(v, "t="+raw) {
			t.Fatalf("inconsistent result ts=%d raw=%q n=%d", ts, raw, n)
		}
		// Whatever parses must verify to a sentinel, never panic.
		s, _ := NewStripe([][]byte{[]byte("k")}, time.Minute)
		if err := s.Verify(http.Header{StripeHeader: {v}}, []byte("{}"), time.Unix(ts, 0)); err != ErrInvalid {
			t.Fatalf("random signature verified: %v", err)
		}
	})
}

func FuzzParseStandardSignatures(f *testing.F) {
	f.Add("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	f.Add("v1a,abc v2,xyz v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=")
	f.Add("v1,")
	f.Fuzz(func(t *testing.T, v string) {
		var sigs [maxSignatures][sha256.Size]byte
		n, err := ParseStandardSignatures(v, &sigs)
		if err != nil {
			if err != ErrInvalid || n != 0 {
				t.Fatalf("failure must be (0, ErrInvalid), got (%d, %v)", n, err)
			}
			return
		}
		if n < 1 || n > maxSignatures || !strings.Contains(v, "v1,") {
			t.Fatalf("inconsistent result n=%d", n)
		}
	})
}

func FuzzParseGitHubHeader(f *testing.F) {
	f.Add("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
	f.Add("sha1=0123")
	f.Fuzz(func(t *testing.T, v string) {
		var sig [sha256.Size]byte
		if err := ParseGitHubHeader(v, &sig); err != nil && err != ErrInvalid {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

func FuzzParseHMACHeader(f *testing.F) {
	f.Add("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", "sha256=", false)
	f.Add("g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "", true)
	f.Fuzz(func(t *testing.T, v, prefix string, isBase64 bool) {
		var sig [sha256.Size]byte
		if err := ParseHMACHeader(v, prefix, isBase64, &sig); err != nil && err != ErrInvalid {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// FuzzVerify throws arbitrary header values and bodies at every scheme: the
// only outcomes allowed are the three sentinels (a random input never
// verifies).
func FuzzVerify(f *testing.F) {
	f.Add("t=1614265330,v1=00", "msg_1", "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", []byte(`{"test": 2432232314}`))
	stripe, _ := NewStripe([][]byte{[]byte("whsec_fuzz")}, 0)
	gh, _ := NewGitHub([][]byte{[]byte("fuzz")})
	std, _ := NewStandard([][]byte{[]byte("fuzz")}, 0)
	gen, _ := NewHMAC([][]byte{[]byte("fuzz")}, "X-Signature", EncodingBase64, "")
	key := [][]byte{[]byte("fuzz")}
	slack, _ := NewTemplate(key, Template{Algorithm: "sha256", Header: "X-Slack-Signature", Encoding: EncodingHex, Prefix: "v0=",
		TimestampHeader: "X-Slack-Request-Timestamp", Parts: []Part{{Kind: PartText, Text: "v0:"}, {Kind: PartTimestamp}, {Kind: PartText, Text: ":"}, {Kind: PartBody}}})
	paddle, _ := NewTemplate(key, Template{Algorithm: "sha256", Header: "Paddle-Signature", Encoding: EncodingHex, ListSep: ";", TimestampKey: "ts", SignatureKey: "h1",
		Parts: []Part{{Kind: PartTimestamp}, {Kind: PartText, Text: ":"}, {Kind: PartBody}}})
	hubspot, _ := NewTemplate(key, Template{Algorithm: "sha256", Header: "X-Signature", Encoding: EncodingBase64, TimestampHeader: "X-Slack-Request-Timestamp",
		TimestampMillis: true, URL: "https://h/x", Parts: []Part{{Kind: PartMethod}, {Kind: PartURL}, {Kind: PartBody}, {Kind: PartTimestamp}}})
	linear, _ := NewTemplate(key, Template{Algorithm: "sha256", Header: "X-Signature", Encoding: EncodingHex, BodyTimestamp: "webhookTimestamp", Parts: []Part{{Kind: PartBody}}})
	twilio, _ := NewTemplate(key, Template{Algorithm: "sha1", Header: "X-Signature", Encoding: EncodingBase64, URL: "https://h/x",
		Parts: []Part{{Kind: PartURL}, {Kind: PartFormParams}}})
	token, _ := NewToken(key, "X-Signature", false)
	basic, _ := NewToken([][]byte{[]byte("u:p")}, "", true)
	pub := make([]byte, 32)
	discord, _ := NewDiscord([][]byte{pub})
	asym, _ := NewStandardKeys(key, [][]byte{pub}, 0)
	f.Fuzz(func(t *testing.T, a, id, ts, sig string, body []byte) {
		h := http.Header{
			StripeHeader: {a}, GitHubHeader: {a}, "X-Signature": {sig},
			StandardIDHeader: {id}, StandardTimestampHeader: {ts}, StandardSignatureHeader: {sig},
			"X-Slack-Signature": {a}, "X-Slack-Request-Timestamp": {ts}, "Paddle-Signature": {a},
			"Authorization": {a}, DiscordSignatureHeader: {sig}, DiscordTimestampHeader: {ts},
		}
		at := time.Unix(1614265330, 0)
		for _, v := range []Verifier{stripe, gh, std, gen, slack, paddle, hubspot, linear, twilio, token, basic, discord, asym} {
			err := v.Verify(h, body, at)
			if !errors.Is(err, ErrMissing) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrExpired) {
				t.Fatalf("%T: %v", v, err)
			}
		}
	})
}
