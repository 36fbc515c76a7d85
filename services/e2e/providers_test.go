package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

// TestProviderRoundTrip: deliveries signed by the providers' own libraries
// go through the real ingress and worker; the row's raw body and kept
// headers verify again with the same library, byte for byte.
func TestProviderRoundTrip(t *testing.T) {
	stdSecret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("standard-webhooks-secret-32bytes"))
	type delivery struct {
		preset, secret, url, id, body, contentType string
		keys                                       bool
		pub, priv                                  string
	}
	ds := []delivery{
		{preset: "stripe", secret: "whsec_rt", body: `{"id":"evt_rt_1","object":"event","type":"charge.succeeded","data":{"object":{"amount": 42}}}`},
		{preset: "github", secret: "gh-rt", body: "{\n  \"action\": \"opened\",\n  \"zen\": \"Keep it logically awesome.\"\n}"},
		{preset: "standard", secret: stdSecret, id: "msg_rt_std", body: `{"type":"a.b","data":{"k":"v"}}`},
		{preset: "clerk", secret: stdSecret, id: "msg_rt_clerk", body: `{"type":"user.created","data":{"id":"user_1","z":1,"a":2}}`},
		{preset: "twilio", secret: "twilio-token", url: "https://example.com/webhooks/twilio", contentType: "application/x-www-form-urlencoded",
			body: "MessageSid=SMrt1&SmsStatus=received&Body=Hello+%F0%9F%91%8B&From=%2B15005550006"},
		{preset: "square", secret: "sq-key", url: "https://example.com/webhooks/square", body: `{"event_id":"sq-rt-1","type":"payment.created","data":{}}`},
		{preset: "linear", secret: "lin-rt", body: `{"action":"create","type":"Issue","webhookTimestamp":WEBHOOK_TS}`},
		{preset: "discord", keys: true, body: `{"id":"99887766","type":2,"data":{"name":"rt"}}`},
		{preset: "sendgrid", keys: true, body: `[{"email":"a@example.com","event":"processed","sg_event_id":"rt"}]`},
	}
	var keyReqs []map[string]any
	for _, d := range ds {
		if d.keys {
			keyReqs = append(keyReqs, map[string]any{"preset": d.preset})
		}
	}
	var pairs []struct{ Public, Private string }
	testenv.ProviderLib(t, "keys", keyReqs, &pairs)
	for i, j := 0, 0; i < len(ds); i++ {
		if ds[i].keys {
			ds[i].pub, ds[i].priv, ds[i].secret = pairs[j].Public, pairs[j].Private, pairs[j].Public
			j++
		}
	}

	names := make([]string, 0, len(ds))
	var ingressEnv []string
	for _, d := range ds {
		name := strings.ToUpper(d.preset)
		names = append(names, d.preset)
		ingressEnv = append(ingressEnv, "PROVIDER_"+name+"_PRESET="+d.preset, "PROVIDER_"+name+"_SECRETS="+d.secret)
		if d.url != "" {
			ingressEnv = append(ingressEnv, "PROVIDER_"+name+"_URL="+d.url)
		}
	}
	ingressEnv = append(ingressEnv, "PROVIDERS_ALLOWED="+strings.Join(names, ","))
	httpPort, dbURL := startStack(t, ingressEnv...)

	reqs := make([]map[string]any, len(ds))
	for i, d := range ds {
		reqs[i] = map[string]any{"preset": d.preset, "secret": d.secret, "url": d.url, "id": d.id, "body": d.body, "public": d.pub, "private": d.priv}
	}
	var signed []struct {
		Headers map[string]string
		Body    string
		LibOK   bool
	}
	testenv.ProviderLib(t, "sign", reqs, &signed)
	sent := map[string]string{}
	for i, d := range ds {
		body := d.body
		if signed[i].Body != "" {
			body = signed[i].Body
		}
		sent[d.preset] = body
		req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/webhooks/%s", httpPort, d.preset), strings.NewReader(body))
		for k, v := range signed[i].Headers {
			req.Header.Set(k, v)
		}
		ct := d.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("%s: status %d", d.preset, resp.StatusCode)
		}
	}

	// Wait for the rows, then re-verify each with the provider's library.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	type row struct {
		body    []byte
		headers map[string]string
	}
	rows := map[string]row{}
	deadline := time.Now().Add(30 * time.Second)
	for len(rows) < len(ds) && time.Now().Before(deadline) {
		rs, err := conn.Query(ctx, `select provider, body, headers::text from webhook_events`)
		if err != nil {
			t.Fatal(err)
		}
		for rs.Next() {
			var p, h string
			var b []byte
			if err := rs.Scan(&p, &b, &h); err != nil {
				t.Fatal(err)
			}
			var hm map[string]string
			if err := json.Unmarshal([]byte(h), &hm); err != nil {
				t.Fatal(err)
			}
			rows[p] = row{b, hm}
		}
		rs.Close()
		time.Sleep(100 * time.Millisecond)
	}
	if len(rows) != len(ds) {
		t.Fatalf("%d rows of %d", len(rows), len(ds))
	}
	verify := make([]map[string]any, len(ds))
	for i, d := range ds {
		r := rows[d.preset]
		if string(r.body) != sent[d.preset] {
			t.Errorf("%s: stored body %q differs from the bytes sent %q", d.preset, r.body, sent[d.preset])
		}
		verify[i] = map[string]any{"preset": d.preset, "secret": d.secret, "url": d.url, "public": d.pub, "body": string(r.body), "headers": r.headers}
	}
	var results []struct {
		OK  bool
		Err string
	}
	testenv.ProviderLib(t, "verify", verify, &results)
	for i, d := range ds {
		if !results[i].OK {
			t.Errorf("%s: the stored delivery does not re-verify with the provider's library: %s (headers %v)", d.preset, results[i].Err, rows[d.preset].headers)
		}
	}
}
