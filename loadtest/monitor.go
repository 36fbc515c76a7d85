package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"
)

// monitor watches the stack from the outside while load runs: CPU seconds
// of the ingress and worker (their /metrics), of Redis (INFO cpu), of this
// runner and of the whole machine (/proc/stat); peak RSS of the ingress and
// worker; and the worker's accept→commit histogram. Anything it cannot
// reach it leaves out of the report.
type monitor struct {
	cfg     config
	start   time.Time
	end     time.Time
	cancel  context.CancelFunc
	done    chan struct{}
	targets []string // "ingress", "worker" with a metrics URL

	mu       sync.Mutex
	peakRSS  map[string]float64
	cpu0     map[string]float64
	cpu1     map[string]float64
	cpu2     map[string]float64 // once the queue drained (after the audit)
	drainEnd time.Time
	e2e0     map[float64]float64
	task0    [2]float64 // webhook_task_events count and sum at the start
	loadDone bool
}

func startMonitor(ctx context.Context, cfg config) *monitor {
	m := &monitor{cfg: cfg, start: time.Now(), done: make(chan struct{}), peakRSS: map[string]float64{}}
	if cfg.ingressMetrics != "" {
		m.targets = append(m.targets, "ingress")
	}
	if cfg.workerMetrics != "" {
		m.targets = append(m.targets, "worker")
	}
	m.cpu0 = m.cpuNow()
	m.e2e0 = m.e2eBuckets()
	m.task0 = m.taskEvents()
	ctx, m.cancel = context.WithCancel(ctx)
	go func() {
		defer close(m.done)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			m.sampleRSS()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *monitor) url(name string) string {
	if name == "ingress" {
		return m.cfg.ingressMetrics
	}
	return m.cfg.workerMetrics
}

func (m *monitor) sampleRSS() {
	for _, name := range m.targets {
		v, err := scrape(m.url(name))
		if err != nil {
			continue
		}
		m.mu.Lock()
		m.peakRSS[name] = max(m.peakRSS[name], v.value("process_resident_memory_bytes"))
		m.mu.Unlock()
	}
}

// cpuNow reads the CPU seconds used so far by each part it can see.
func (m *monitor) cpuNow() map[string]float64 {
	cpu := map[string]float64{}
	for _, name := range m.targets {
		v, err := scrape(m.url(name))
		if err != nil {
			fmt.Fprintf(os.Stderr, "loadtest: %s metrics: %v\n", name, err)
			continue
		}
		cpu[name] = v.value("process_cpu_seconds_total")
	}
	if s, err := redisCPU(m.cfg); err == nil {
		cpu["redis"] = s
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		cpu["runner"] = tv(ru.Utime) + tv(ru.Stime)
	}
	if s, err := machineCPU(); err == nil {
		cpu["machine"] = s
	}
	if s, err := postgresCPU(m.cfg.databaseURL); err == nil {
		cpu["postgres"] = s
	}
	return cpu
}

// drained marks the moment the queue had nothing left to process: the CPU
// from the start to here is the whole cost of the run's events, including
// a backlog the worker cleared after the load stopped.
func (m *monitor) drained() {
	m.drainEnd = time.Now()
	m.cpu2 = m.cpuNow()
}

// postgresCPU is the CPU seconds of the PostgreSQL server behind url when it
// runs on this machine: its postmaster (with its exited children) and every
// live child process (backends, WAL writer, checkpointer...).
func postgresCPU(url string) (float64, error) {
	if url == "" {
		return 0, fmt.Errorf("no database URL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var backend int
	if err := conn.QueryRow(ctx, "select pg_backend_pid()").Scan(&backend); err != nil {
		return 0, err
	}
	st, err := procStat(backend)
	if err != nil {
		return 0, err // not on this machine
	}
	postmaster := int(st[1])
	pm, err := procStat(postmaster)
	if err != nil {
		return 0, err
	}
	total := pm[11] + pm[12] + pm[13] + pm[14]
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if c, err := procStat(pid); err == nil && int(c[1]) == postmaster {
			total += c[11] + c[12]
		}
	}
	return total / 100, nil // USER_HZ
}

// procStat returns the numeric fields of /proc/pid/stat after the command
// name: [0] state (0), [1] ppid, ..., [11] utime, [12] stime, [13] cutime,
// [14] cstime (clock ticks).
func procStat(pid int) ([]float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return nil, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	out := make([]float64, 15)
	for j := 1; j < 15; j++ {
		out[j], _ = strconv.ParseFloat(f[j], 64)
	}
	return out, nil
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// stopLoad marks the end of the load window the CPU figures cover.
func (m *monitor) stopLoad() {
	m.mu.Lock()
	done := m.loadDone
	m.loadDone = true
	m.mu.Unlock()
	if !done {
		m.end = time.Now()
		m.cpu1 = m.cpuNow()
	}
}

// report prints what was seen; events is the number of accepted events, to
// give CPU per event.
func (m *monitor) report(out io.Writer, events int) {
	m.stopLoad()
	m.cancel()
	<-m.done
	window := m.end.Sub(m.start).Seconds()
	fmt.Fprintf(out, "resources over the %.1f s load window (%d cores)\n", window, runtime.NumCPU())
	names := make([]string, 0, len(m.cpu1))
	for k := range m.cpu1 {
		if _, ok := m.cpu0[k]; ok {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		d := m.cpu1[k] - m.cpu0[k]
		per := ""
		if events > 0 {
			per = fmt.Sprintf(", %.1f µs/event", 1e6*d/float64(events))
		}
		fmt.Fprintf(out, "  cpu %-8s %7.1f s = %.2f cores%s\n", k, d, d/window, per)
	}
	if m.cpu2 != nil && events > 0 {
		// What the events cost the servers in all, backlog included: the
		// figure to compare between runs (the load window alone leaves out
		// whatever the worker did after the load stopped).
		whole := m.drainEnd.Sub(m.start).Seconds()
		fmt.Fprintf(out, "  until drained (%.1f s, load + drain), µs/event:", whole)
		server := 0.0
		for _, k := range []string{"ingress", "worker", "redis", "postgres"} {
			a, ok0 := m.cpu0[k]
			b, ok2 := m.cpu2[k]
			if !ok0 || !ok2 {
				continue
			}
			per := 1e6 * (b - a) / float64(events)
			server += per
			fmt.Fprintf(out, " %s %.1f,", k, per)
		}
		fmt.Fprintf(out, " server %.1f\n", server)
	}
	for _, name := range m.targets {
		fmt.Fprintf(out, "  peak RSS %-8s %.1f MiB\n", name, m.peakRSS[name]/(1<<20))
	}
	if m.cfg.workerMetrics != "" && m.e2e0 != nil {
		if e2e1 := m.e2eBuckets(); e2e1 != nil {
			d := map[float64]float64{}
			for le, n := range e2e1 {
				d[le] = n - m.e2e0[le]
			}
			fmt.Fprintf(out, "  accept→commit (worker histogram, this run) p50≈%s p95≈%s p99≈%s n=%.0f\n",
				secs(quantile(d, 0.5)), secs(quantile(d, 0.95)), secs(quantile(d, 0.99)), d[math.Inf(1)])
		}
		if t1 := m.taskEvents(); t1[0] > m.task0[0] {
			tasks := t1[0] - m.task0[0]
			fmt.Fprintf(out, "  events per task (worker) %.1f over %.0f tasks\n", (t1[1]-m.task0[1])/tasks, tasks)
		}
	}
}

// taskEvents is the worker's count of tasks processed and the events they
// carried (webhook_task_events), zeros when it cannot be read.
func (m *monitor) taskEvents() [2]float64 {
	if m.cfg.workerMetrics == "" {
		return [2]float64{}
	}
	v, err := scrape(m.cfg.workerMetrics)
	if err != nil {
		return [2]float64{}
	}
	count, sum, _ := v.histogram("webhook_task_events")
	return [2]float64{count, sum}
}

func secs(s float64) string {
	if math.IsNaN(s) {
		return "n/a"
	}
	return (time.Duration(s * float64(time.Second))).Round(10 * time.Microsecond).String()
}

func (m *monitor) e2eBuckets() map[float64]float64 {
	if m.cfg.workerMetrics == "" {
		return nil
	}
	v, err := scrape(m.cfg.workerMetrics)
	if err != nil {
		return nil
	}
	_, _, b := v.histogram("webhook_end_to_end_seconds")
	return b
}

// quantile interpolates the q-quantile of cumulative histogram buckets (le
// → count) the way Prometheus's histogram_quantile does.
func quantile(b map[float64]float64, q float64) float64 {
	les := make([]float64, 0, len(b))
	for le := range b {
		les = append(les, le)
	}
	sort.Float64s(les)
	if len(les) == 0 || b[les[len(les)-1]] <= 0 {
		return math.NaN()
	}
	total := b[les[len(les)-1]]
	rank := q * total
	prevLE, prevN := 0.0, 0.0
	for _, le := range les {
		n := b[le]
		if n >= rank {
			if math.IsInf(le, 1) {
				return prevLE // above the last finite bucket: its bound is all we know
			}
			if n == prevN {
				return le
			}
			return prevLE + (le-prevLE)*(rank-prevN)/(n-prevN)
		}
		prevLE, prevN = le, n
	}
	return prevLE
}

// samples is a parsed Prometheus text exposition, by metric family name.
type samples map[string]*dto.MetricFamily

// value is the sum of a counter, gauge or untyped family's series (0 when
// the family is missing).
func (s samples) value(name string) float64 {
	t := 0.0
	for _, m := range s[name].GetMetric() {
		switch {
		case m.Counter != nil:
			t += m.GetCounter().GetValue()
		case m.Gauge != nil:
			t += m.GetGauge().GetValue()
		case m.Untyped != nil:
			t += m.GetUntyped().GetValue()
		}
	}
	return t
}

// histogram sums a histogram family's series: observation count and sum,
// and the cumulative buckets (upper bound → count, +Inf included).
func (s samples) histogram(name string) (count, sum float64, buckets map[float64]float64) {
	buckets = map[float64]float64{}
	for _, m := range s[name].GetMetric() {
		h := m.GetHistogram()
		if h == nil {
			continue
		}
		count += float64(h.GetSampleCount()) + h.GetSampleCountFloat()
		sum += h.GetSampleSum()
		for _, b := range h.GetBucket() {
			buckets[b.GetUpperBound()] += float64(b.GetCumulativeCount()) + b.GetCumulativeCountFloat()
		}
	}
	if len(buckets) > 0 {
		buckets[math.Inf(1)] = count
	}
	return count, sum, buckets
}

var scrapeClient = &http.Client{Timeout: 5 * time.Second}

// scrape reads url's metrics, trying three times: on a loaded machine a
// process that just started can be slow to answer.
func scrape(url string) (s samples, err error) {
	for range 3 {
		if s, err = scrapeOnce(url); err == nil {
			return s, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, err
}

func scrapeOnce(url string) (samples, error) {
	resp, err := scrapeClient.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return parseExposition(resp.Body)
}

func parseExposition(r io.Reader) (samples, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(r)
}

// redisCPU is Redis's own CPU seconds (main thread and children).
func redisCPU(cfg config) (float64, error) {
	c := redis.NewClient(&redis.Options{Addr: cfg.redisAddr, Password: cfg.redisPassword, DB: cfg.redisDB, DialTimeout: time.Second, ReadTimeout: time.Second})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	info, err := c.Info(ctx, "cpu").Result()
	if err != nil {
		return 0, err
	}
	total := 0.0
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return total, nil
}

// machineCPU is the CPU seconds every process on the machine used since boot
// (the busy part of /proc/stat's first line).
func machineCPU() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, fmt.Errorf("unexpected /proc/stat")
	}
	busy := 0.0
	for i, x := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 7 { // guest time is already counted in user
			break
		}
		v, _ := strconv.ParseFloat(x, 64)
		busy += v
	}
	return busy / 100, nil // USER_HZ is 100 on Linux
}
