package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sethvargo/go-envconfig"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/config"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/store"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

func TestDaysDecode(t *testing.T) {
	for in, want := range map[string]time.Duration{"off": 0, "": 0, "0": 0, "30d": 30 * 24 * time.Hour, "36h": 36 * time.Hour} {
		var d days
		if err := d.EnvDecode(in); err != nil || time.Duration(d) != want {
			t.Errorf("%q = %s, %v; want %s", in, time.Duration(d), err, want)
		}
	}
	for _, in := range []string{"30 days", "-1d", "xd"} {
		var d days
		if err := d.EnvDecode(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestReadAPIConfig(t *testing.T) {
	for _, tc := range []struct {
		env map[string]string
		ok  bool
	}{
		{map[string]string{}, true},
		{map[string]string{"READ_API_ADDR": ":9092"}, false},
		{map[string]string{"READ_API_ADDR": ":9092", "READ_API_KEYS": "short"}, false},
		{map[string]string{"READ_API_ADDR": ":9092", "READ_API_KEYS": "0123456789abcdef,fedcba9876543210"}, true},
		{map[string]string{"RETENTION": "12h"}, false},
		{map[string]string{"RETENTION": "30d", "DEDUP_RETENTION": "3d"}, true},
	} {
		var c Config
		err := config.Load(context.Background(), &c, envconfig.MapLookuper(tc.env))
		if (err == nil) != tc.ok {
			t.Errorf("%v: err = %v, want ok=%v", tc.env, err, tc.ok)
		}
	}
}

// The worker serves the read API on READ_API_ADDR, maintains partitions and
// reports the storage gauges.
func TestWorkerServesReadAPI(t *testing.T) {
	ctx := context.Background()
	dbURL := testenv.Postgres(t)
	rdb := testenv.Redis(t)
	apiAddr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	opsAddr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	env := envconfig.MapLookuper(map[string]string{
		"DATABASE_URL": dbURL, "REDIS_ADDR": rdb.Addr, "REDIS_DB": strconv.Itoa(rdb.DB),
		"OPS_ADDR": opsAddr, "READ_API_ADDR": apiAddr, "READ_API_KEYS": "key-one-0123456789,key-two-0123456789",
		"RETENTION": "30d", "PARTITIONS_AHEAD": "5", "LOG_LEVEL": "error", "SHUTDOWN_TIMEOUT": "2s",
	})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(rctx, env) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	get := func(url, key string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code, _ := get("http://"+apiAddr+"/v1/events", "key-two-0123456789"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("read API did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	st, err := store.Open(ctx, dbURL, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Insert(ctx, []store.Event{{Provider: "p", EventID: "e1", ContentType: "text/plain", Body: []byte("hi"), ReceivedAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	code, body := get("http://"+apiAddr+"/v1/events?wait=5s", "key-one-0123456789")
	var page struct{ Events []struct{ EventID string } }
	if err := json.Unmarshal([]byte(body), &page); code != 200 || err != nil || len(page.Events) != 1 || page.Events[0].EventID != "e1" {
		t.Errorf("GET /v1/events = %d %s", code, body)
	}
	if code, _ := get("http://"+apiAddr+"/v1/events", "wrong-key-0123456789"); code != http.StatusUnauthorized {
		t.Errorf("wrong key: %d", code)
	}
	if code, _ := get("http://"+opsAddr+"/v1/events", "key-one-0123456789"); code != http.StatusNotFound {
		t.Errorf("read API on the ops port: %d, want 404", code)
	}
	_, metrics := get("http://"+opsAddr+"/metrics", "")
	for _, want := range []string{"webhook_events_partitions ", "webhook_events_oldest_age_seconds ", `webhook_events_bytes{table="events"}`, `webhook_events_maintenance_total{result="done"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// PARTITIONS_AHEAD=5: today+5 exists.
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var ahead *string
	name := "webhook_events_p" + time.Now().UTC().AddDate(0, 0, 5).Format("20060102")
	if err := conn.QueryRow(ctx, "select to_regclass($1)::text", name).Scan(&ahead); err != nil || ahead == nil {
		t.Errorf("partition %s missing: %v", name, err)
	}
}
