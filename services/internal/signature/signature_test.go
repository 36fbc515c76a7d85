package signature_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/signature"
)

// The signatures below are computed here, independently of the package, with
// crypto/hmac directly.

func macHex(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

func macB64(key []byte, msg string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func tamper(b []byte) []byte {
	c := append([]byte(nil), b...)
	c[len(c)/2] ^= 0x01
	return c
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

type verifyCase struct {
	name string
	h    http.Header
	body []byte
	now  time.Time
	want error
}

func runCases(t *testing.T, v signature.Verifier, cases []verifyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Verify(tc.h, tc.body, tc.now)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if err != nil {
				for _, s := range []error{signature.ErrMissing, signature.ErrInvalid, signature.ErrExpired} {
					if err == s {
						return
					}
				}
				t.Fatalf("Verify returned %q, not one of the three sentinels", err)
			}
		})
	}
}

var (
	now  = time.Unix(1_760_000_000, 0)
	body = []byte(`{"id":"evt_1","object":"event","type":"payment_intent.succeeded","data":{"object":{"amount":2000}}}`)
)

func TestStripe(t *testing.T) {
	const oldSecret, newSecret = "whsec_old_0123456789", "whsec_new_abcdefghij"
	v, err := signature.NewStripe([][]byte{[]byte(oldSecret), []byte(newSecret)}, 0)
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := func(secret, t string, b []byte) string { return macHex(secret, t+"."+string(b)) }
	header := func(val string) http.Header { return hdr("Stripe-Signature", val) }
	tol := int64(signature.DefaultTolerance / time.Second)
	at := func(d int64) string { return strconv.FormatInt(now.Unix()+d, 10) }

	runCases(t, v, []verifyCase{
		{"valid", header("t=" + ts + ",v1=" + sig(oldSecret, ts, body)), body, now, nil},
		{"valid with spaces and v0", header("t=" + ts + ", v1=" + sig(oldSecret, ts, body) + ", v0=" + sig("x", ts, body)), body, now, nil},
		{"rotated secret", header("t=" + ts + ",v1=" + sig(newSecret, ts, body)), body, now, nil},
		{"several v1, second matches", header("t=" + ts + ",v1=" + sig("whsec_gone", ts, body) + ",v1=" + sig(newSecret, ts, body)), body, now, nil},
		{"uppercase hex", header("t=" + ts + ",v1=" + fmt.Sprintf("%X", mustHex(sig(oldSecret, ts, body)))), body, now, nil},
		{"wrong secret", header("t=" + ts + ",v1=" + sig("whsec_wrong", ts, body)), body, now, signature.ErrInvalid},
		{"tampered body", header("t=" + ts + ",v1=" + sig(oldSecret, ts, body)), tamper(body), now, signature.ErrInvalid},
		{"timestamp not the signed one", header("t=" + at(1) + ",v1=" + sig(oldSecret, ts, body)), body, now, signature.ErrInvalid},
		{"signed over re-serialised body", header("t=" + ts + ",v1=" + sig(oldSecret, ts, []byte(`{"id": "evt_1"}`))), []byte(`{"id":"evt_1"}`), now, signature.ErrInvalid},
		{"edge of window, past", header("t=" + at(-tol) + ",v1=" + sig(oldSecret, at(-tol), body)), body, now, nil},
		{"edge of window, future", header("t=" + at(tol) + ",v1=" + sig(oldSecret, at(tol), body)), body, now, nil},
		{"expired", header("t=" + at(-tol-1) + ",v1=" + sig(oldSecret, at(-tol-1), body)), body, now, signature.ErrExpired},
		{"future", header("t=" + at(tol+1) + ",v1=" + sig(oldSecret, at(tol+1), body)), body, now, signature.ErrExpired},
		{"missing header", http.Header{}, body, now, signature.ErrMissing},
		{"empty header", header(""), body, now, signature.ErrMissing},
		{"no timestamp", header("v1=" + sig(oldSecret, ts, body)), body, now, signature.ErrInvalid},
		{"no v1", header("t=" + ts + ",v0=" + sig(oldSecret, ts, body)), body, now, signature.ErrInvalid},
		{"two timestamps", header("t=" + ts + ",t=" + ts + ",v1=" + sig(oldSecret, ts, body)), body, now, signature.ErrInvalid},
		{"negative timestamp", header("t=-1,v1=" + sig(oldSecret, "-1", body)), body, now, signature.ErrInvalid},
		{"short v1", header("t=" + ts + ",v1=abcd"), body, now, signature.ErrInvalid},
		{"garbage", header("garbage"), body, now, signature.ErrInvalid},
		{"header twice", hdr("Stripe-Signature", "t="+ts+",v1="+sig(oldSecret, ts, body), "Stripe-Signature", "t=1,v1=00"), body, now, signature.ErrInvalid},
	})

	t.Run("custom tolerance", func(t *testing.T) {
		v, err := signature.NewStripe([][]byte{[]byte(oldSecret)}, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		runCases(t, v, []verifyCase{
			{"inside", header("t=" + at(-10) + ",v1=" + sig(oldSecret, at(-10), body)), body, now, nil},
			{"outside", header("t=" + at(-11) + ",v1=" + sig(oldSecret, at(-11), body)), body, now, signature.ErrExpired},
		})
	})
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestGitHub(t *testing.T) {
	const secret, rotated = "gh-secret-1", "gh-secret-2"
	v, err := signature.NewGitHub([][]byte{[]byte(secret), []byte(rotated)})
	if err != nil {
		t.Fatal(err)
	}
	header := func(val string) http.Header { return hdr("X-Hub-Signature-256", val) }
	runCases(t, v, []verifyCase{
		{"valid", header("sha256=" + macHex(secret, string(body))), body, now, nil},
		{"rotated secret", header("sha256=" + macHex(rotated, string(body))), body, now, nil},
		{"wrong secret", header("sha256=" + macHex("nope", string(body))), body, now, signature.ErrInvalid},
		{"tampered body", header("sha256=" + macHex(secret, string(body))), tamper(body), now, signature.ErrInvalid},
		{"missing header", http.Header{}, body, now, signature.ErrMissing},
		{"sha1 header only", hdr("X-Hub-Signature", "sha1=0000"), body, now, signature.ErrMissing},
		{"wrong algorithm prefix", header("sha1=" + macHex(secret, string(body))), body, now, signature.ErrInvalid},
		{"no prefix", header(macHex(secret, string(body))), body, now, signature.ErrInvalid},
		{"truncated", header("sha256=" + macHex(secret, string(body))[:62]), body, now, signature.ErrInvalid},
		{"non-hex", header("sha256=" + "zz" + macHex(secret, string(body))[2:]), body, now, signature.ErrInvalid},
	})

	// The example in GitHub's "Validating webhook deliveries" documentation.
	t.Run("published example", func(t *testing.T) {
		v, err := signature.NewGitHub([][]byte{[]byte("It's a Secret to Everybody")})
		if err != nil {
			t.Fatal(err)
		}
		h := header("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
		if err := v.Verify(h, []byte("Hello, World!"), now); err != nil {
			t.Fatalf("published example: %v", err)
		}
	})
}

func TestStandard(t *testing.T) {
	key1 := []byte("0123456789abcdef0123456789abcdef")
	key2 := []byte("rotated-key-rotated-key-rotated!")
	v, err := signature.NewStandard([][]byte{key1, key2}, 0)
	if err != nil {
		t.Fatal(err)
	}
	const id = "msg_2abcDEF"
	ts := strconv.FormatInt(now.Unix(), 10)
	tol := int64(signature.DefaultTolerance / time.Second)
	at := func(d int64) string { return strconv.FormatInt(now.Unix()+d, 10) }
	sig := func(key []byte, id, ts string, b []byte) string { return "v1," + macB64(key, id+"."+ts+"."+string(b)) }
	header := func(id, ts, sig string) http.Header {
		return hdr("webhook-id", id, "webhook-timestamp", ts, "webhook-signature", sig)
	}
	runCases(t, v, []verifyCase{
		{"valid", header(id, ts, sig(key1, id, ts, body)), body, now, nil},
		{"rotated secret", header(id, ts, sig(key2, id, ts, body)), body, now, nil},
		{"several signatures", header(id, ts, "v1a,abc v2,xyz "+sig([]byte("old"), id, ts, body)+" "+sig(key2, id, ts, body)), body, now, nil},
		{"wrong secret", header(id, ts, sig([]byte("other"), id, ts, body)), body, now, signature.ErrInvalid},
		{"tampered body", header(id, ts, sig(key1, id, ts, body)), tamper(body), now, signature.ErrInvalid},
		{"id swapped", header("msg_other", ts, sig(key1, id, ts, body)), body, now, signature.ErrInvalid},
		{"expired", header(id, at(-tol-1), sig(key1, id, at(-tol-1), body)), body, now, signature.ErrExpired},
		{"future", header(id, at(tol+1), sig(key1, id, at(tol+1), body)), body, now, signature.ErrExpired},
		{"edge of window", header(id, at(-tol), sig(key1, id, at(-tol), body)), body, now, nil},
		{"missing signature", hdr("webhook-id", id, "webhook-timestamp", ts), body, now, signature.ErrMissing},
		{"missing id", hdr("webhook-timestamp", ts, "webhook-signature", sig(key1, id, ts, body)), body, now, signature.ErrMissing},
		{"missing timestamp", hdr("webhook-id", id, "webhook-signature", sig(key1, id, ts, body)), body, now, signature.ErrMissing},
		{"no headers", http.Header{}, body, now, signature.ErrMissing},
		{"timestamp not a number", header(id, "yesterday", sig(key1, id, ts, body)), body, now, signature.ErrInvalid},
		{"only other versions", header(id, ts, "v2,"+macB64(key1, id+"."+ts+"."+string(body))), body, now, signature.ErrInvalid},
		{"bad base64", header(id, ts, "v1,!!!"), body, now, signature.ErrInvalid},
		{"no comma", header(id, ts, "v1"), body, now, signature.ErrInvalid},
		{"id too long", header(string(make([]byte, 256)), ts, sig(key1, id, ts, body)), body, now, signature.ErrInvalid},
	})

	// The published vectors of the Standard Webhooks reference library
	// (standard-webhooks/standard-webhooks, libraries/go/webhook_test.go).
	t.Run("published vectors", func(t *testing.T) {
		key, err := signature.ParseStandardSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
		if err != nil {
			t.Fatal(err)
		}
		keyNoPrefix, err := signature.ParseStandardSecret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
		if err != nil {
			t.Fatal(err)
		}
		const (
			msgID   = "msg_p5jXN8AQM9LWM0D4loKWxJek"
			ts      = "1614265330"
			payload = `{"test": 2432232314}`
			good    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
			bad     = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
		)
		signedAt := time.Unix(1614265330, 0)
		for _, k := range [][]byte{key, keyNoPrefix} {
			v, err := signature.NewStandard([][]byte{k}, 0)
			if err != nil {
				t.Fatal(err)
			}
			runCases(t, v, []verifyCase{
				{"sign vector", header(msgID, ts, good), []byte(payload), signedAt, nil},
				{"invalid vector", header(msgID, ts, bad), []byte(payload), signedAt, signature.ErrInvalid},
				{"multi signature vector", header(msgID, ts, bad+" v2,"+bad[3:]+" "+good+" "+bad), []byte(payload), signedAt, nil},
				{"vector, old timestamp", header(msgID, ts, good), []byte(payload), signedAt.Add(signature.DefaultTolerance + time.Second), signature.ErrExpired},
				{"vector, new timestamp", header(msgID, ts, good), []byte(payload), signedAt.Add(-signature.DefaultTolerance - time.Second), signature.ErrExpired},
			})
		}
	})
}

func TestParseStandardSecret(t *testing.T) {
	for _, s := range []string{"", "whsec_", "whsec_not base64!", "whsec_@@@@"} {
		if _, err := signature.ParseStandardSecret(s); err == nil {
			t.Errorf("ParseStandardSecret(%q) = nil error", s)
		}
	}
}

func TestHMAC(t *testing.T) {
	const secret, rotated = "generic-secret", "generic-secret-2"
	secrets := [][]byte{[]byte(secret), []byte(rotated)}
	t.Run("hex with prefix", func(t *testing.T) {
		v, err := signature.NewHMAC(secrets, "x-signature", signature.EncodingHex, "sha256=")
		if err != nil {
			t.Fatal(err)
		}
		if v.Header() != "X-Signature" {
			t.Fatalf("Header() = %q", v.Header())
		}
		header := func(val string) http.Header { return hdr("X-Signature", val) }
		runCases(t, v, []verifyCase{
			{"valid", header("sha256=" + macHex(secret, string(body))), body, now, nil},
			{"rotated secret", header("sha256=" + macHex(rotated, string(body))), body, now, nil},
			{"wrong secret", header("sha256=" + macHex("x", string(body))), body, now, signature.ErrInvalid},
			{"tampered body", header("sha256=" + macHex(secret, string(body))), tamper(body), now, signature.ErrInvalid},
			{"missing prefix", header(macHex(secret, string(body))), body, now, signature.ErrInvalid},
			{"missing header", http.Header{}, body, now, signature.ErrMissing},
			{"base64 instead of hex", header("sha256=" + macB64([]byte(secret), string(body))), body, now, signature.ErrInvalid},
		})
	})
	t.Run("base64 without prefix", func(t *testing.T) {
		v, err := signature.NewHMAC(secrets, "X-Shopify-Hmac-Sha256", signature.EncodingBase64, "")
		if err != nil {
			t.Fatal(err)
		}
		header := func(val string) http.Header { return hdr("X-Shopify-Hmac-Sha256", val) }
		runCases(t, v, []verifyCase{
			{"valid", header(macB64([]byte(secret), string(body))), body, now, nil},
			{"rotated secret", header(macB64([]byte(rotated), string(body))), body, now, nil},
			{"wrong secret", header(macB64([]byte("x"), string(body))), body, now, signature.ErrInvalid},
			{"tampered body", header(macB64([]byte(secret), string(body))), tamper(body), now, signature.ErrInvalid},
			{"hex instead of base64", header(macHex(secret, string(body))), body, now, signature.ErrInvalid},
			{"missing header", http.Header{}, body, now, signature.ErrMissing},
		})
	})
	t.Run("bad config", func(t *testing.T) {
		for _, tc := range []struct{ header, enc string }{{"", "hex"}, {"Bad Header", "hex"}, {"X-Sig", "base32"}} {
			if _, err := signature.NewHMAC(secrets, tc.header, tc.enc, ""); err == nil {
				t.Errorf("NewHMAC(%q, %q) = nil error", tc.header, tc.enc)
			}
		}
	})
}

func TestNoSecrets(t *testing.T) {
	if _, err := signature.NewStripe(nil, 0); err == nil {
		t.Error("NewStripe without secrets: nil error")
	}
	if _, err := signature.NewGitHub([][]byte{{}}); err == nil {
		t.Error("NewGitHub with an empty secret: nil error")
	}
	if _, err := signature.NewStandard(nil, 0); err == nil {
		t.Error("NewStandard without secrets: nil error")
	}
}

// The hot path should not allocate per request beyond what the caller owns.
func TestVerifyAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	v, _ := signature.NewStripe([][]byte{[]byte("whsec_a")}, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	h := hdr("Stripe-Signature", "t="+ts+",v1="+macHex("whsec_a", ts+"."+string(body)))
	s, _ := signature.NewStandard([][]byte{[]byte("k")}, 0)
	sh := hdr("webhook-id", "m", "webhook-timestamp", ts, "webhook-signature", "v1,"+macB64([]byte("k"), "m."+ts+"."+string(body)))
	for name, f := range map[string]func(){
		"stripe":   func() { _ = v.Verify(h, body, now) },
		"standard": func() { _ = s.Verify(sh, body, now) },
	} {
		f()
		if n := testing.AllocsPerRun(100, f); n > 0 {
			t.Errorf("%s: %v allocations per Verify", name, n)
		}
	}
}

func BenchmarkStripeVerify(b *testing.B) {
	v, _ := signature.NewStripe([][]byte{[]byte("whsec_a"), []byte("whsec_b")}, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	h := hdr("Stripe-Signature", "t="+ts+",v1="+macHex("whsec_b", ts+"."+string(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(h, body, now); err != nil {
			b.Fatal(err)
		}
	}
}

// ValidHeaderName takes exactly the names net/http's client sends (its
// httpguts.ValidHeaderFieldName, RFC 9110's token): every byte, between
// two letters.
func TestValidHeaderNameMatchesNetHTTP(t *testing.T) {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	for c := range 256 {
		name := "X" + string([]byte{byte(c)}) + "Y"
		req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header[name] = []string{"1"}
		_, err = tr.RoundTrip(req) // nothing listens: a dial error unless the name is refused first
		sent := err == nil || !strings.Contains(err.Error(), "invalid header field name")
		if got := signature.ValidHeaderName(name); got != sent {
			t.Errorf("ValidHeaderName(%q) = %v, net/http sends it: %v", name, got, sent)
		}
	}
	if signature.ValidHeaderName("") || !signature.ValidHeaderName(strings.Repeat("a", 128)) || signature.ValidHeaderName(strings.Repeat("a", 129)) {
		t.Error("a header name is 1 to 128 bytes")
	}
}
