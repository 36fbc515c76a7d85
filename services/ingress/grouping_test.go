package main

import (
	"context"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/config"
)

func TestGroupingConfig(t *testing.T) {
	var cfg Config
	if err := config.Load(context.Background(), &cfg, envconfig.MapLookuper(map[string]string{})); err != nil {
		t.Fatal(err)
	}
	if g := cfg.Grouping; !g.Enabled || g.MaxEvents != 64 || g.MaxBytes != 1<<20 || g.Inflight != 1 {
		t.Errorf("defaults = %+v, want grouping on, 64 events, 1 MiB, 1 in flight", g)
	}
	var bad Config
	err := config.Load(context.Background(), &bad, envconfig.MapLookuper(map[string]string{"ENQUEUE_GROUP_MAX_EVENTS": "0"}))
	if err == nil || !strings.Contains(err.Error(), "ENQUEUE_GROUP_MAX_EVENTS") {
		t.Errorf("ENQUEUE_GROUP_MAX_EVENTS=0: err %v", err)
	}
	var off Config
	if err := config.Load(context.Background(), &off, envconfig.MapLookuper(map[string]string{"ENQUEUE_GROUPING": "false", "ENQUEUE_GROUP_MAX_EVENTS": "0"})); err != nil || off.Grouping.Enabled {
		t.Errorf("ENQUEUE_GROUPING=false: enabled %v, err %v", off.Grouping.Enabled, err)
	}
}
