//go:build faults

package faults

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

// queueName is the contract's asynq queue (services/README.md "The job contract": fixed).
const queueName = "webhooks"

// Audit compares what the load runner was told (202s) with what PostgreSQL holds.
type Audit struct {
	Sent       int // distinct events the runner produced
	Accepted   int // distinct events that got at least one 202
	Rows       int // rows for the run's provider
	Lost       int // accepted events without a row
	Duplicates int // rows beyond one per (provider, event_id)
	Phantoms   int // rows for events the runner never sent
}

func (a Audit) String() string {
	return fmt.Sprintf("accepted = %d, rows = %d, lost = %d, duplicates = %d", a.Accepted, a.Rows, a.Lost, a.Duplicates)
}

// Rows returns the event ids stored for provider.
func (s *Stack) Rows(provider string) map[string]int {
	s.t.Helper()
	out := s.PG.SQL(fmt.Sprintf("SELECT event_id || ' ' || count(*) FROM webhook_events WHERE provider = '%s' GROUP BY event_id", provider))
	rows := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		id, n, _ := strings.Cut(line, " ")
		c, _ := strconv.Atoi(n)
		rows[id] = c
	}
	return rows
}

// RowCount counts rows for provider, or -1 when PostgreSQL does not answer.
func (s *Stack) RowCount(provider string) int {
	out, err := s.PG.psqlDB(pgDatabase, fmt.Sprintf("SELECT count(*) FROM webhook_events WHERE provider = '%s'", provider))
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		return -1
	}
	return n
}

// CountPresent counts how many of ids have a row (-1 when PostgreSQL does not answer).
func (s *Stack) CountPresent(provider string, ids []string) int {
	if len(ids) == 0 {
		return 0
	}
	quoted := make([]string, len(ids))
	for i, id := range ids {
		quoted[i] = "'" + strings.ReplaceAll(id, "'", "''") + "'"
	}
	out, err := s.PG.psqlDB(pgDatabase, fmt.Sprintf("SELECT count(*) FROM webhook_events WHERE provider = '%s' AND event_id IN (%s)",
		provider, strings.Join(quoted, ",")))
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		return -1
	}
	return n
}

// AuditRun checks accepted events against rows.
func (s *Stack) AuditRun(provider string, res *loadResult) Audit {
	s.t.Helper()
	rows := s.Rows(provider)
	a := Audit{Sent: len(res.Events)}
	for id, n := range rows {
		a.Rows += n
		if n > 1 {
			a.Duplicates += n - 1
		}
		if _, ok := res.Events[id]; !ok {
			a.Phantoms++
		}
	}
	for id, e := range res.Events {
		if e.Accepted {
			a.Accepted++
			if rows[id] == 0 {
				a.Lost++
			}
		}
	}
	return a
}

// Queue is the state of the asynq queue.
type Queue struct {
	Pending, Active, Scheduled, Retry, Archived, Aggregating int
}

func (q Queue) Idle() bool {
	return q.Pending+q.Active+q.Scheduled+q.Retry+q.Aggregating == 0
}

func (s *Stack) inspector() *asynq.Inspector {
	return asynq.NewInspector(asynq.RedisClientOpt{Addr: s.Redis.Addr(), DialTimeout: time.Second, ReadTimeout: time.Second})
}

// Queue reads the queue counters; ok is false when Redis does not answer.
func (s *Stack) Queue() (q Queue, ok bool) {
	in := s.inspector()
	defer in.Close()
	info, err := in.GetQueueInfo(queueName)
	if err != nil {
		// Nothing was ever enqueued: the queue is empty, not unreachable.
		return Queue{}, errors.Is(err, asynq.ErrQueueNotFound) || strings.Contains(err.Error(), "does not exist")
	}
	return Queue{info.Pending, info.Active, info.Scheduled, info.Retry, info.Archived, info.Aggregating}, true
}

// WaitDrained waits until every accepted event has its row and the queue is
// idle; it returns how long that took.
func (s *Stack) WaitDrained(provider string, accepted int, timeout time.Duration) time.Duration {
	s.t.Helper()
	start := time.Now()
	var q Queue
	var rows int
	ok := waitFor(timeout, func() bool {
		var qok bool
		q, qok = s.Queue()
		rows = s.RowCount(provider)
		return qok && q.Idle() && rows >= accepted
	})
	if !ok {
		s.t.Errorf("not drained after %v: rows=%d of %d accepted, queue %+v", timeout, rows, accepted, q)
	}
	return time.Since(start)
}

// requireClean fails the test unless the audit is exact, and logs it as one
// "AUDIT <test>: accepted = …, rows = …, lost = …, duplicates = …" line, the
// form this package's README.md quotes in its results.
func requireClean(t *testing.T, a Audit) {
	t.Helper()
	t.Logf("AUDIT %s: %s", t.Name(), a)
	if a.Lost != 0 || a.Duplicates != 0 || a.Phantoms != 0 || a.Rows != a.Accepted {
		t.Errorf("audit not exact: %+v", a)
	}
	if a.Accepted == 0 {
		t.Errorf("nothing was accepted: the scenario proved nothing")
	}
}

const pageSize = 1000

// asynqPage lists page n of pageSize tasks.
func asynqPage(n int) []asynq.ListOption {
	return []asynq.ListOption{asynq.Page(n), asynq.PageSize(pageSize)}
}
