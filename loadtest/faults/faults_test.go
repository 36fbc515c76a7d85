//go:build faults

package faults

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// scale holds the durations and sizes of a run: full length for
// `make test-faults`, shortened with -short for `make test`.
type scale struct {
	Rate      int           // events/s offered during a scenario
	Load      time.Duration // how long load runs
	RedisDown time.Duration
	PGDown    time.Duration
	PersistN  int // scenario 4
	Storm     int // scenario 7: distinct events
	Copies    int // scenario 7: deliveries per event
}

func scaleFor() scale {
	if testing.Short() {
		return scale{Rate: 200, Load: 12 * time.Second, RedisDown: 5 * time.Second, PGDown: 8 * time.Second,
			PersistN: 2000, Storm: 1000, Copies: 10}
	}
	return scale{Rate: 500, Load: 60 * time.Second, RedisDown: 10 * time.Second, PGDown: 30 * time.Second,
		PersistN: 20000, Storm: 1000, Copies: 10}
}

// parallelWhenShort runs the scenarios that mostly wait for a recovery
// timer side by side in the shortened suite, so CI spends minutes, not many;
// at full length every scenario runs alone so its figures stand on their own.
func parallelWhenShort(t *testing.T) {
	if testing.Short() {
		t.Parallel()
	}
}

// drainTimeout bounds waiting for the worker to persist everything: asynq
// recovers the tasks of a killed worker only after its 30 s lease plus a 30 s
// clock-skew margin, checked once a minute, so allow comfortably more.
const drainTimeout = 4 * time.Minute

// startLoad runs l in the background.
func startLoad(l *load) <-chan *loadResult {
	ch := make(chan *loadResult, 1)
	go func() { ch <- l.Run(context.Background()) }()
	return ch
}

func prefix(t *testing.T) string {
	return fmt.Sprintf("%s-%d", strings.ToLower(strings.TrimPrefix(t.Name(), "Test")), time.Now().UnixNano()%1e9)
}

// logResult prints the runner's view and the recovery figures.
func logResult(t *testing.T, res *loadResult) {
	t.Helper()
	t.Logf("load: %s", res.Summary())
}

// ---------------------------------------------------------------------------
// 1. Worker killed (SIGKILL) mid-load, restarted after a few seconds.
func TestWorkerKilled(t *testing.T) {
	parallelWhenShort(t)
	sc := scaleFor()
	s := NewStack(t)
	s.Migrate()
	in := s.StartIngress()
	w := s.StartWorker()

	l := &load{Targets: []string{in.HTTP}, Provider: "wkill", Prefix: prefix(t), Rate: sc.Rate, Duration: sc.Load, Retry: true}
	loadStart := time.Now()
	done := startLoad(l)

	time.Sleep(sc.Load / 3)
	// Kill it mid-batch: a short table lock (as a slow disk or a long
	// transaction would) makes sure tasks are in flight, waiting for their
	// INSERT, when the SIGKILL lands.
	unlocked := s.PG.HoldLock("webhook_events", 1500*time.Millisecond)
	time.Sleep(time.Second)
	w.Kill()
	killedAt := time.Now()
	orphans := s.ActiveEventIDs()
	t.Logf("worker pid %d SIGKILLed mid-batch %.1fs into the run; %d events were in active tasks (orphaned)", w.PID(), killedAt.Sub(loadStart).Seconds(), len(orphans))
	<-unlocked
	if len(orphans) == 0 {
		t.Errorf("no task was in flight at the kill: the scenario proved nothing about recovery")
	}

	time.Sleep(3 * time.Second)
	s.StartWorker()

	// Recovery time: until every orphaned task's row exists.
	recovered := make(chan time.Duration, 1)
	go func() {
		waitFor(drainTimeout, func() bool {
			time.Sleep(200 * time.Millisecond)
			return s.CountPresent(l.Provider, orphans) == len(orphans)
		})
		recovered <- time.Since(killedAt)
	}()

	res := <-done
	logResult(t, res)
	drained := s.WaitDrained(l.Provider, len(res.Accepted()), drainTimeout)
	rec := <-recovered
	t.Logf("RECOVERY orphaned events: %d, all persisted %.1fs after the kill; queue drained %.1fs after the load ended",
		len(orphans), rec.Seconds(), drained.Seconds())
	requireClean(t, s.AuditRun(l.Provider, res))
}

// ---------------------------------------------------------------------------
// 2. Ingress killed (SIGKILL) mid-load: every 202 has its row; requests cut
// off got no 202, and the runner (retrying like a provider) re-delivers them.
func TestIngressKilled(t *testing.T) {
	sc := scaleFor()
	s := NewStack(t)
	s.Migrate()
	in := s.StartIngress()
	s.StartWorker()

	l := &load{Targets: []string{in.HTTP}, Provider: "ikill", Prefix: prefix(t), Rate: sc.Rate, Duration: sc.Load, Retry: true}
	loadStart := time.Now()
	done := startLoad(l)

	time.Sleep(sc.Load / 3)
	in.Kill()
	t.Logf("ingress pid %d SIGKILLed %.1fs into the run", in.PID(), time.Since(loadStart).Seconds())
	time.Sleep(2 * time.Second)
	in2 := s.StartIngressAt(in)
	t.Logf("new ingress pid %d on the same address", in2.PID())

	res := <-done
	logResult(t, res)

	// Attempts that got no answer: refused (never reached a process) or cut
	// off (reached the killed process, which may or may not have enqueued).
	refused, cut, cutQueued := 0, 0, 0
	for _, e := range res.Events {
		for i, a := range e.Attempts {
			if a.Code != 0 {
				continue
			}
			if a.Err == "refused" {
				refused++
				continue
			}
			cut++
			// Had the cut-off attempt enqueued? Its retry's 202 says duplicate.
			for _, b := range e.Attempts[i+1:] {
				if b.Code == http.StatusAccepted {
					if b.Duplicate {
						cutQueued++
					}
					break
				}
			}
		}
	}
	t.Logf("attempts without an answer (so without a 202): %d refused while no ingress listened, %d cut off in flight; "+
		"%d of the cut-off ones had been queued before the kill (the retry's 202 said duplicate)", refused, cut, cutQueued)
	s.WaitDrained(l.Provider, len(res.Accepted()), drainTimeout)
	requireClean(t, s.AuditRun(l.Provider, res))
}

// ---------------------------------------------------------------------------
// 3. Graceful rolling restart of both ingress instances (behind a proxy that
// follows /ready) and of the worker: zero failed requests, zero lost.
func TestRollingRestart(t *testing.T) {
	sc := scaleFor()
	s := NewStack(t)
	s.Migrate()
	p := newProxy(t)
	ins := []*Service{s.StartIngress(), s.StartIngress()}
	for _, in := range ins {
		p.Add(in)
	}
	w := s.StartWorker()
	waitFor(5*time.Second, func() bool { return len(p.ready()) == 2 })

	// No retries: any non-202 is a failed request as a provider sees it.
	l := &load{Targets: []string{p.URL}, Provider: "rolling", Prefix: prefix(t), Rate: sc.Rate, Duration: sc.Load, Retry: false}
	loadStart := time.Now()
	done := startLoad(l)

	time.Sleep(sc.Load / 5)
	for i, old := range ins {
		nw := s.StartIngress() // surge: the new pod first
		p.Add(nw)
		waitFor(5*time.Second, func() bool { return len(p.ready()) == 3 })
		termAt := time.Since(loadStart)
		old.Stop(syscall.SIGTERM, 30*time.Second)
		p.Remove(old)
		t.Logf("ingress %d: pid %d SIGTERMed %.1fs into the run, drained and exited in %.1fs (exit: %v); pid %d serves instead",
			i, old.PID(), termAt.Seconds(), time.Since(loadStart).Seconds()-termAt.Seconds(), old.err, nw.PID())
		time.Sleep(sc.Load / 10)
	}
	nw := s.StartWorker()
	w.Stop(syscall.SIGTERM, 30*time.Second)
	t.Logf("worker pid %d replaced by pid %d (old exit: %v)", w.PID(), nw.PID(), w.err)

	res := <-done
	logResult(t, res)
	t.Logf("proxy: %d re-tried on another backend, %d found no ready backend", p.Retried.Load(), p.NoTarget.Load())
	if res.Non202 != 0 {
		t.Errorf("the runner saw %d failed requests during the rolling restart", res.Non202)
	}
	s.WaitDrained(l.Provider, len(res.Accepted()), drainTimeout)
	requireClean(t, s.AuditRun(l.Provider, res))
}

// ---------------------------------------------------------------------------
// 4. The seed's persistence check: N jobs queued with no worker, both binaries
// stopped, Redis killed and restarted from its AOF, then the worker: N rows.
func TestPersistenceAcrossRedisRestart(t *testing.T) {
	sc := scaleFor()
	s := NewStack(t)
	s.Migrate()
	in := s.StartIngress()

	l := &load{Targets: []string{in.HTTP}, Provider: "persist", Prefix: prefix(t), Events: sc.PersistN, Concurrency: 32, Retry: true}
	res := l.Run(context.Background())
	logResult(t, res)
	in.Stop(syscall.SIGTERM, 30*time.Second)

	q, _ := s.Queue()
	t.Logf("queued before the Redis restart: %+v", q)
	s.Redis.Kill() // a crash of the process: the AOF is in the kernel's page cache already
	s.Redis.Start()
	q, _ = s.Queue()
	t.Logf("queued after the Redis restart:  %+v", q)
	// A task may hold several events (the ingress groups them): count events.
	if n := len(s.PendingEventIDs()); n != len(res.Accepted()) {
		t.Errorf("events pending after restart = %d (in %d tasks), want %d", n, q.Pending, len(res.Accepted()))
	}

	start := time.Now()
	s.StartWorker()
	s.WaitDrained(l.Provider, len(res.Accepted()), drainTimeout)
	t.Logf("worker drained %d queued events in %.1fs", len(res.Accepted()), time.Since(start).Seconds())
	requireClean(t, s.AuditRun(l.Provider, res))
}

// ---------------------------------------------------------------------------
// 5. Redis down under load: 503 + Retry-After, never 202; /ready false and
// back; the runner retries like a provider; accepted == rows.
func TestRedisDown(t *testing.T) {
	parallelWhenShort(t)
	sc := scaleFor()
	s := NewStack(t)
	s.Migrate()
	in := s.StartIngress()
	w := s.StartWorker()

	l := &load{Targets: []string{in.HTTP}, Provider: "redisdown", Prefix: prefix(t), Rate: sc.Rate, Duration: sc.Load + sc.RedisDown, Retry: true}
	loadStart := time.Now()
	done := startLoad(l)

	time.Sleep(sc.Load / 3)
	s.Redis.Kill()
	downAt := time.Now()
	t.Logf("redis SIGKILLed %.1fs into the run, for %v", downAt.Sub(loadStart).Seconds(), sc.RedisDown)
	notReady := waitFor(sc.RedisDown, func() bool { return !in.Ready() })
	notReadyAfter := time.Since(downAt)
	workerNotReady := waitFor(sc.RedisDown-time.Since(downAt), func() bool { return !w.Ready() })
	time.Sleep(sc.RedisDown - time.Since(downAt))
	restartAt := time.Now() // from here on Redis may answer: the outage is [downAt, restartAt)
	s.Redis.Start()
	upAt := time.Now()
	backReady := waitFor(30*time.Second, func() bool { return in.Ready() })
	backAfter := time.Since(upAt)
	t.Logf("ingress /ready: false after %.1fs (%v), back %.1fs after Redis returned (%v); worker /ready went false: %v",
		notReadyAfter.Seconds(), notReady, backAfter.Seconds(), backReady, workerNotReady)
	if !notReady || !backReady {
		t.Errorf("ingress /ready did not follow Redis: went false %v, came back %v", notReady, backReady)
	}

	res := <-done
	logResult(t, res)
	// Never a 202 while Redis was down: a request sent after the kill (with a
	// margin for writes that raced it) and answered before the new Redis
	// process even existed must not have been a 202.
	bad := 0
	for _, e := range res.Events {
		for _, a := range e.Attempts {
			if a.Code == http.StatusAccepted && a.At.After(downAt.Add(200*time.Millisecond)) && a.Done.Before(restartAt) {
				bad++
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d requests got a 202 while Redis was down", bad)
	}
	if res.No503RetryAfter > 0 {
		t.Errorf("%d 503 answers without Retry-After", res.No503RetryAfter)
	}
	if res.Codes[http.StatusServiceUnavailable] == 0 {
		t.Errorf("no 503 seen while Redis was down")
	}
	stuck := s.ActiveEventIDs()
	drained := s.WaitDrained(l.Provider, len(res.Accepted()), drainTimeout)
	// A task whose dequeue Redis executed but whose reply died with it is
	// left active with no worker: asynq's lease recovers it after ≈60-120 s.
	t.Logf("RECOVERY Redis outage %v: ingress ready %.1fs after Redis returned; %d events in active tasks when the load ended; "+
		"queue drained %.1fs after the load ended", sc.RedisDown, backAfter.Seconds(), len(stuck), drained.Seconds())
	requireClean(t, s.AuditRun(l.Provider, res))
}

// ---------------------------------------------------------------------------
// 6. PostgreSQL down under load: the ingress keeps accepting, the worker
// backs off and goes unready, nothing is archived, accepted == rows.
func TestPostgresDown(t *testing.T) {
	parallelWhenShort(t)
	sc := scaleFor()
	s := NewStack(t)
	s.Migrate()
	in := s.StartIngress()
	w := s.StartWorker()

	l := &load{Targets: []string{in.HTTP}, Provider: "pgdown", Prefix: prefix(t), Rate: sc.Rate, Duration: sc.Load + sc.PGDown, Retry: true}
	loadStart := time.Now()
	done := startLoad(l)

	time.Sleep(sc.Load / 3)
	s.PG.Crash()
	downAt := time.Now()
	t.Logf("postgres stopped (immediate shutdown) %.1fs into the run, for %v", downAt.Sub(loadStart).Seconds(), sc.PGDown)
	notReady := waitFor(sc.PGDown, func() bool { return !w.Ready() })
	t.Logf("worker /ready false after %.1fs: %v", time.Since(downAt).Seconds(), notReady)
	// Through the outage: the ingress stays ready, and the worker hands
	// failing tasks back to asynq's retry set (with backoff) instead of
	// holding or dropping them.
	inReady, maxRetry := true, 0
	waitFor(sc.PGDown-time.Since(downAt), func() bool {
		inReady = inReady && in.Ready()
		if q, ok := s.Queue(); ok {
			maxRetry = max(maxRetry, q.Retry)
		}
		time.Sleep(200 * time.Millisecond)
		return false
	})
	t.Logf("tasks waiting in the retry set during the outage: up to %d", maxRetry)
	if maxRetry == 0 {
		t.Errorf("no task went back to the queue for a retry while PostgreSQL was down")
	}
	s.PG.Start()
	upAt := time.Now()
	back := waitFor(30*time.Second, func() bool { return w.Ready() })
	t.Logf("worker /ready back %.1fs after PostgreSQL returned: %v", time.Since(upAt).Seconds(), back)
	if !notReady || !back {
		t.Errorf("worker /ready did not follow PostgreSQL: false %v, back %v", notReady, back)
	}
	if !inReady {
		t.Errorf("ingress went unready while only PostgreSQL was down")
	}

	res := <-done
	logResult(t, res)
	acceptedDuringOutage := 0
	for _, e := range res.Events {
		for _, a := range e.Attempts {
			if a.Code == http.StatusAccepted && a.At.After(downAt) && a.Done.Before(upAt) {
				acceptedDuringOutage++
			}
		}
	}
	t.Logf("202s answered while PostgreSQL was down: %d", acceptedDuringOutage)
	if acceptedDuringOutage == 0 {
		t.Errorf("the ingress accepted nothing while PostgreSQL was down")
	}
	if res.Non202 > 0 {
		t.Errorf("the ingress failed %d requests while only PostgreSQL was down", res.Non202)
	}
	drained := s.WaitDrained(l.Provider, len(res.Accepted()), drainTimeout)
	t.Logf("RECOVERY backlog persisted %.1fs after the load ended (%.1fs after PostgreSQL returned)", drained.Seconds(), time.Since(upAt).Seconds())
	if q, _ := s.Queue(); q.Archived != 0 {
		t.Errorf("%d tasks archived during the PostgreSQL outage", q.Archived)
	}
	requireClean(t, s.AuditRun(l.Provider, res))
}

// ---------------------------------------------------------------------------
// 7. Duplicate storm: the same events delivered many times concurrently
// through several ingress instances, to two workers: one row each.
func TestDuplicateStorm(t *testing.T) {
	sc := scaleFor()
	s := NewStack(t)
	s.Migrate()
	var targets []string
	for range 3 {
		targets = append(targets, s.StartIngress().HTTP)
	}
	s.StartWorker()
	s.StartWorker()

	l := &load{Targets: targets, Provider: "storm", Prefix: prefix(t), Events: sc.Storm, Copies: sc.Copies, Concurrency: 64, Retry: true}
	res := l.Run(context.Background())
	logResult(t, res)
	dupAnswers := 0
	for _, e := range res.Events {
		for _, a := range e.Attempts {
			if a.Duplicate {
				dupAnswers++
			}
		}
	}
	t.Logf("%d deliveries of %d events; %d answered 202 duplicate:true", sc.Storm*sc.Copies, sc.Storm, dupAnswers)
	s.WaitDrained(l.Provider, len(res.Accepted()), drainTimeout)
	a := s.AuditRun(l.Provider, res)
	if a.Rows != sc.Storm {
		t.Errorf("rows = %d, want %d", a.Rows, sc.Storm)
	}
	requireClean(t, a)
}

// --- helpers that read the queue ----------------------------------------------

type taskView struct {
	ID, EventID, LastErr string
	Retried, MaxRetry    int
}

// eventIDsOf lists the events a task carries (one, or a group: the
// ingress groups webhooks that arrive together). The suite imports nothing
// from services/, so it reads the job contract's binary format itself: a
// version byte (1), the event count, then per event provider, event id,
// event type (uvarint-length strings), received-at (varint), content type,
// body, and a count of header pairs. Tasks of earlier releases are JSON.
func eventIDsOf(payload []byte) []string {
	if len(payload) > 0 && payload[0] == '{' {
		var p struct {
			EventID string `json:"eventId"`
		}
		_ = json.Unmarshal(payload, &p)
		return []string{p.EventID}
	}
	if len(payload) == 0 || payload[0] != 1 {
		return nil
	}
	b := payload[1:]
	bad := false
	uv := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			bad = true
			return 0
		}
		b = b[n:]
		return v
	}
	str := func() string {
		n := uv()
		if bad || n > uint64(len(b)) {
			bad = true
			return ""
		}
		s := string(b[:n])
		b = b[n:]
		return s
	}
	count := uv()
	var ids []string
	for i := uint64(0); i < count && !bad; i++ {
		str() // provider
		ids = append(ids, str())
		str() // event type
		if _, n := binary.Varint(b); n > 0 {
			b = b[n:]
		} else {
			bad = true
		}
		str() // content type
		str() // body
		for h := uv(); h > 0 && !bad; h-- {
			str()
			str()
		}
	}
	if bad {
		return nil
	}
	return ids
}

func eventIDOf(payload []byte) string {
	if ids := eventIDsOf(payload); len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// ActiveEventIDs lists the event ids held by the tasks in the active state.
func (s *Stack) ActiveEventIDs() []string {
	s.t.Helper()
	in := s.inspector()
	defer in.Close()
	var ids []string
	for page := 1; ; page++ {
		ts, err := in.ListActiveTasks(queueName, asynqPage(page)...)
		if err != nil {
			s.t.Fatalf("list active tasks: %v", err)
		}
		for _, ti := range ts {
			ids = append(ids, eventIDsOf(ti.Payload)...)
		}
		if len(ts) < pageSize {
			return ids
		}
	}
}

// PendingEventIDs lists the event ids held by the pending tasks.
func (s *Stack) PendingEventIDs() []string {
	s.t.Helper()
	in := s.inspector()
	defer in.Close()
	var ids []string
	for page := 1; ; page++ {
		ts, err := in.ListPendingTasks(queueName, asynqPage(page)...)
		if err != nil {
			s.t.Fatalf("list pending tasks: %v", err)
		}
		for _, ti := range ts {
			ids = append(ids, eventIDsOf(ti.Payload)...)
		}
		if len(ts) < pageSize {
			return ids
		}
	}
}
