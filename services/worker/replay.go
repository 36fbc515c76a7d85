package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/hibiken/asynq"
	"github.com/sethvargo/go-envconfig"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/config"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ops"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/queue"
)

// replay is `worker replay [-id ID]`: after fixing what made tasks fail, put
// the archived (dead-letter) tasks of the webhooks queue back to pending, all
// of them or one by its job id. Replaying is safe: a row that exists already
// is not written twice.
func replay(ctx context.Context, args []string, lookup envconfig.Lookuper) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	id := fs.String("id", "", "replay only the archived task with this job id (default: all)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var cfg Config
	if err := config.Load(ctx, &cfg, lookup); err != nil {
		return err
	}
	log := ops.NewLogger(os.Stdout, cfg.LogLevel)
	rdb := queue.NewRedis(cfg.Redis)
	defer rdb.Close()
	insp := asynq.NewInspectorFromRedisClient(rdb)

	n := 1
	var err error
	if *id != "" {
		err = insp.RunTask(job.Queue, *id)
	} else {
		n, err = insp.RunAllArchivedTasks(job.Queue)
	}
	if err != nil {
		return fmt.Errorf("replay archived tasks of queue %q: %w", job.Queue, err)
	}
	log.Info("archived tasks put back to pending", "queue", job.Queue, "count", n)
	return nil
}
