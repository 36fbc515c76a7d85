package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// versionTable is where tern records the applied migration version.
const versionTable = "public.schema_version"

// migrateLock serialises migrators across replicas. tern locks around the
// migrations themselves but creates its version table before that, which
// races when several workers start at once; this lock covers both.
const migrateLock = int64(0x77656268_6f6f6b73) // "webhooks"

// Migrate applies every embedded migration not yet applied to the database at
// url and returns the schema version it ends at. Safe to run concurrently.
func Migrate(ctx context.Context, url string) (int32, error) {
	return MigrateTo(ctx, url, -1)
}

// MigrateTo moves the schema at url to version target, up or down (-1: the
// latest), and returns the version it ends at. Safe to run concurrently.
func MigrateTo(ctx context.Context, url string, target int32) (int32, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	if _, err := conn.Exec(ctx, "select pg_advisory_lock($1)", migrateLock); err != nil {
		return 0, fmt.Errorf("take migration lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "select pg_advisory_unlock($1)", migrateLock) //nolint:errcheck // the session ends right after

	m, err := migrate.NewMigrator(ctx, conn, versionTable)
	if err != nil {
		return 0, fmt.Errorf("prepare migrator: %w", err)
	}
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return 0, err
	}
	if err := m.LoadMigrations(sub); err != nil {
		return 0, fmt.Errorf("load migrations: %w", err)
	}
	if target < 0 {
		err = m.Migrate(ctx)
	} else {
		err = m.MigrateTo(ctx, target)
	}
	if err != nil {
		return 0, fmt.Errorf("apply migrations: %w", err)
	}
	return m.GetCurrentVersion(ctx)
}

// CreateDatabase creates the database named in url when it does not exist,
// connecting to the server's "postgres" database to do so. It is for local
// runs (`bin/worker migrate -create-database`); production databases are
// provisioned by their owners.
func CreateDatabase(ctx context.Context, url string) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		return conn.Close(ctx)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" { // invalid_catalog_name
		return fmt.Errorf("connect: %w", err)
	}
	name := cfg.Database
	cfg.Database = "postgres"
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to create database %q: %w", name, err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "create database "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %q: %w", name, err)
	}
	return nil
}
