package queue

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Redis versions: asynq v0.26's scripts need 4.0 (multi-field HSET, MEMORY
// USAGE); our own keys need only GET and SET PX since the idempotency claim
// stopped using SET NX GET (7.0). 7.0 is the version every test runs on.
const (
	minRedisVersion    = 4
	testedRedisVersion = 7
)

// ServerReport is what CheckServer found: Fatal problems mean a 202 could
// be lost (Redis evicts queued events, or cannot run asynq's scripts);
// Warnings weaken a guarantee or could not be checked.
type ServerReport struct {
	Version   string
	MaxMemory int64 // bytes; 0: no limit (or unknown)
	Fatal     []string
	Warnings  []string
}

// Err is the fatal problems as one error, nil when there are none.
func (r ServerReport) Err() error {
	if len(r.Fatal) == 0 {
		return nil
	}
	return errors.New("Redis does not meet the requirements (README, \"Redis requirements\"; REDIS_CHECK=warn starts anyway): " + strings.Join(r.Fatal, "; "))
}

// CheckServer reads the Redis server's version and configuration and
// reports what breaks the delivery guarantees:
//   - maxmemory-policy must be noeviction: an allkeys-* policy deletes
//     queued events (fatal); a volatile-* policy deletes idempotency keys and
//     asynq's locks (warning);
//   - appendonly should be yes: without AOF a Redis restart loses every
//     accepted event still queued (warning: dev setups run without);
//   - maxmemory should be set: without it Redis grows until the machine
//     kills it, and memory-based shedding has nothing to compare with;
//   - the version must be at least 4.0 (asynq), 7.0 is what is tested.
//
// Managed Redis services often refuse CONFIG: that is a warning, and the
// operator checks those settings by hand. An unreachable Redis is an error.
func CheckServer(ctx context.Context, rdb redis.UniversalClient) (ServerReport, error) {
	var r ServerReport
	info, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		return r, fmt.Errorf("INFO server: %w", err)
	}
	r.Version = infoField(info, "redis_version")
	major, _, _ := strings.Cut(r.Version, ".")
	switch v, err := strconv.Atoi(major); {
	case err != nil:
		r.Warnings = append(r.Warnings, fmt.Sprintf("unknown Redis version %q", r.Version))
	case v < minRedisVersion:
		r.Fatal = append(r.Fatal, fmt.Sprintf("Redis %s is older than %d.0, which asynq needs", r.Version, minRedisVersion))
	case v < testedRedisVersion:
		r.Warnings = append(r.Warnings, fmt.Sprintf("Redis %s: only %d.x is tested", r.Version, testedRedisVersion))
	}

	conf, err := rdb.ConfigGet(ctx, "*").Result()
	if err != nil {
		r.Warnings = append(r.Warnings, "CONFIG GET refused ("+err.Error()+"): check appendonly yes, maxmemory-policy noeviction and maxmemory by hand")
		return r, nil
	}
	switch p := conf["maxmemory-policy"]; {
	case p == "noeviction":
	case strings.HasPrefix(p, "allkeys-"):
		r.Fatal = append(r.Fatal, "maxmemory-policy is "+p+": Redis would delete queued events when full; set noeviction")
	case p == "":
		r.Warnings = append(r.Warnings, "maxmemory-policy not reported; it must be noeviction")
	default:
		r.Warnings = append(r.Warnings, "maxmemory-policy is "+p+": Redis would delete idempotency keys and asynq's locks when full; set noeviction")
	}
	if conf["appendonly"] != "yes" {
		r.Warnings = append(r.Warnings, "appendonly is not yes: a Redis restart loses every queued event")
	}
	r.MaxMemory, _ = strconv.ParseInt(conf["maxmemory"], 10, 64)
	if r.MaxMemory == 0 {
		r.Warnings = append(r.Warnings, "maxmemory is 0 (no limit): size it for the longest outage to ride out, and memory-based shedding is off")
	}
	return r, nil
}

// infoField reads "name:value" from an INFO reply.
func infoField(info, name string) string {
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// InfoInt reads the integer "name:value" from an INFO reply (0 if absent).
func InfoInt(info, name string) int64 {
	n, _ := strconv.ParseInt(infoField(info, name), 10, 64)
	return n
}

// CheckAtStart runs CheckServer for a binary starting up: warnings are
// logged; fatal problems stop the start when mode is "enforce" (REDIS_CHECK)
// and are logged otherwise. A Redis that does not answer yet is logged and
// not an error (readiness reports it; the check runs at the next start).
func CheckAtStart(ctx context.Context, rdb redis.UniversalClient, mode string, log *slog.Logger) (ServerReport, error) {
	r, err := CheckServer(ctx, rdb)
	if err != nil {
		log.Warn("could not check the Redis requirements", "err", err)
		return r, nil
	}
	for _, w := range r.Warnings {
		log.Warn("Redis requirement", "problem", w, "redis_version", r.Version)
	}
	if err := r.Err(); err != nil {
		if mode != "warn" {
			return r, err
		}
		log.Error("Redis does not meet the requirements; starting anyway (REDIS_CHECK=warn)", "problems", r.Fatal)
	}
	return r, nil
}
