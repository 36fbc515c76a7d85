package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/config"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

func TestCheckServer(t *testing.T) {
	addr, _ := testenv.StartRedis(t) // AOF off, no maxmemory, noeviction
	admin := NewRedis(config.Redis{Addr: addr, PoolSize: 2, Timeout: 2 * time.Second})
	defer admin.Close()
	ctx := context.Background()
	set := func(k, v string) {
		t.Helper()
		if err := admin.ConfigSet(ctx, k, v).Err(); err != nil {
			t.Fatal(err)
		}
	}
	check := func(c redis.UniversalClient) ServerReport {
		t.Helper()
		r, err := CheckServer(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	has := func(list []string, sub string) bool {
		for _, s := range list {
			if strings.Contains(s, sub) {
				return true
			}
		}
		return false
	}

	r := check(admin)
	if r.Err() != nil || !has(r.Warnings, "appendonly") || !has(r.Warnings, "maxmemory is 0") || r.Version == "" {
		t.Errorf("defaults: %+v", r)
	}
	set("appendonly", "yes")
	set("maxmemory", "64mb")
	if r = check(admin); len(r.Fatal)+len(r.Warnings) != 0 || r.MaxMemory != 64<<20 {
		t.Errorf("compliant Redis: %+v", r)
	}
	set("maxmemory-policy", "allkeys-lru")
	if r = check(admin); r.Err() == nil || !strings.Contains(r.Err().Error(), "allkeys-lru") {
		t.Errorf("allkeys-lru: %+v", r)
	}
	set("maxmemory-policy", "volatile-ttl")
	if r = check(admin); r.Err() != nil || !has(r.Warnings, "volatile-ttl") {
		t.Errorf("volatile-ttl: %+v", r)
	}

	// A managed Redis refusing CONFIG: a warning, never a failure.
	if err := admin.Do(ctx, "ACL", "SETUSER", "app", "on", ">pw", "~*", "&*", "+@all", "-config").Err(); err != nil {
		t.Fatal(err)
	}
	app := redis.NewClient(&redis.Options{Addr: addr, Username: "app", Password: "pw"})
	defer app.Close()
	if r = check(app); r.Err() != nil || !has(r.Warnings, "CONFIG GET refused") {
		t.Errorf("CONFIG refused: %+v", r)
	}

	// Unreachable: an error, the caller decides.
	dead := NewRedis(config.Redis{Addr: "127.0.0.1:1", PoolSize: 1, Timeout: 200 * time.Millisecond})
	defer dead.Close()
	if _, err := CheckServer(ctx, dead); err == nil {
		t.Error("unreachable Redis: no error")
	}
}
