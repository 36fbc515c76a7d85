//go:build faults

package faults

import (
	"testing"
	"time"
)

// TestHarness checks the harness itself: Redis survives a SIGKILL with its
// AOF, PostgreSQL survives an immediate shutdown with its committed rows.
func TestHarness(t *testing.T) {
	s := NewStack(t)
	s.PG.SQL("CREATE TABLE h (n int primary key); INSERT INTO h SELECT generate_series(1, 100)")
	s.PG.Crash()
	s.PG.Start()
	if got := s.PG.SQL("SELECT count(*) FROM h"); got != "100" {
		t.Fatalf("rows after crash = %s", got)
	}
	if _, ok := s.Queue(); !ok {
		t.Fatal("inspector cannot read the queue")
	}
	s.Redis.Kill()
	if redisPing(s.Redis.Addr()) == nil {
		t.Fatal("redis still answers after SIGKILL")
	}
	start := time.Now()
	s.Redis.Start()
	t.Logf("redis restarted in %v", time.Since(start))
}
