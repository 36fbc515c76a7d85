// Package config loads a binary's settings from the environment with
// go-envconfig. Each binary declares one struct embedding the pieces here;
// every variable is documented in the README with its default.
package config

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"
)

// Redis is how both binaries reach Redis.
type Redis struct {
	Addr     string `env:"REDIS_ADDR, default=localhost:6379"`
	Password string `env:"REDIS_PASSWORD"`
	DB       int    `env:"REDIS_DB, default=0"`
	// PoolSize caps connections per process (go-redis pool); budget it
	// against Redis maxclients times the number of replicas.
	PoolSize int `env:"REDIS_POOL_SIZE, default=64"`
	// Timeout bounds dialing and each command, so a dead Redis fails fast.
	Timeout time.Duration `env:"REDIS_TIMEOUT, default=2s"`
	// Pipelines is how many auto-pipelines send concurrent commands to Redis
	// together (0: every command its own round trip). See queue.NewRedis.
	Pipelines int `env:"REDIS_PIPELINES, default=2"`
	// Check is what a Redis that breaks the requirements does at start
	// (queue.CheckServer): "enforce" (or "") stops the binary, "warn" logs.
	Check string `env:"REDIS_CHECK, default=enforce"`
}

// Common settings shared by both binaries.
type Common struct {
	LogLevel slog.Level `env:"LOG_LEVEL, default=info"`
	// ShutdownTimeout bounds the whole graceful shutdown after SIGTERM.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT, default=20s"`
}

// Load fills target (a pointer to a struct with env tags) from lookup, or
// from the process environment when lookup is nil, then calls its Validate
// method when it has one. Errors name the offending variable.
func Load(ctx context.Context, target any, lookup envconfig.Lookuper) error {
	if lookup == nil {
		lookup = envconfig.OsLookuper()
	}
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: target, Lookuper: lookup}); err != nil {
		return fmt.Errorf("config: %s", nameVariable(err.Error(), reflect.TypeOf(target).Elem()))
	}
	if v, ok := target.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	return nil
}

// nameVariable rewrites envconfig's "Redis: PoolSize: parse error" into
// "REDIS_POOL_SIZE: parse error": operators know the variable, not our fields.
func nameVariable(msg string, t reflect.Type) string {
	for t.Kind() == reflect.Struct {
		name, rest, ok := strings.Cut(msg, ": ")
		if !ok {
			return msg
		}
		f, found := t.FieldByName(name)
		if !found {
			return msg
		}
		if tag, _, _ := strings.Cut(f.Tag.Get("env"), ","); tag != "" {
			return tag + ": " + rest
		}
		msg, t = rest, f.Type
	}
	return msg
}

// Validate checks the Redis settings.
func (r Redis) Validate() error {
	switch {
	case r.Addr == "":
		return fmt.Errorf("REDIS_ADDR must not be empty")
	case r.DB < 0:
		return fmt.Errorf("REDIS_DB must not be negative, got %d", r.DB)
	case r.PoolSize < 1:
		return fmt.Errorf("REDIS_POOL_SIZE must be at least 1, got %d", r.PoolSize)
	case r.Timeout <= 0:
		return fmt.Errorf("REDIS_TIMEOUT must be positive, got %s", r.Timeout)
	case r.Check != "" && r.Check != "enforce" && r.Check != "warn":
		return fmt.Errorf("REDIS_CHECK must be enforce or warn, got %q", r.Check)
	}
	return nil
}

// Validate checks the common settings.
func (c Common) Validate() error {
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("SHUTDOWN_TIMEOUT must be positive, got %s", c.ShutdownTimeout)
	}
	return nil
}
