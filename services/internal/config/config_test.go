package config_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/config"
)

type testConfig struct {
	config.Common
	Redis config.Redis
}

func (c *testConfig) Validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	return c.Redis.Validate()
}

func TestDefaults(t *testing.T) {
	var c testConfig
	if err := config.Load(context.Background(), &c, envconfig.MapLookuper(nil)); err != nil {
		t.Fatal(err)
	}
	if c.Redis.Addr != "localhost:6379" || c.ShutdownTimeout != 20*time.Second || c.Redis.PoolSize != 64 {
		t.Errorf("defaults = %+v", c)
	}
}

func TestInvalidNamesTheVariable(t *testing.T) {
	for _, tt := range []struct{ env map[string]string }{
		{map[string]string{"REDIS_DB": "-1"}},
		{map[string]string{"REDIS_POOL_SIZE": "many"}},
		{map[string]string{"REDIS_TIMEOUT": "0s"}},
		{map[string]string{"SHUTDOWN_TIMEOUT": "soon"}},
		{map[string]string{"LOG_LEVEL": "loud"}},
		{map[string]string{"REDIS_ADDR": ""}},
	} {
		var c testConfig
		err := config.Load(context.Background(), &c, envconfig.MapLookuper(tt.env))
		for name := range tt.env {
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%v: err = %v, want it to name %s", tt.env, err, name)
			}
		}
	}
}
