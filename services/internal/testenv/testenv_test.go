package testenv

import "testing"

func TestWithDatabaseKeepsCredentials(t *testing.T) {
	for base, want := range map[string]string{
		"postgres://app:s3cret@127.0.0.1:5432/postgres?sslmode=disable": "postgres://app:s3cret@127.0.0.1:5432/test_1?sslmode=disable",
		"postgres://postgres@localhost/x":                               "postgres://postgres@localhost/test_1",
		"host=127.0.0.1 user=app password=p dbname=postgres":            "host=127.0.0.1 user=app password=p dbname=postgres dbname=test_1",
	} {
		if got := withDatabase(base, "test_1"); got != want {
			t.Errorf("withDatabase(%q) = %q, want %q", base, got, want)
		}
	}
}

// A Redis with the default 16 databases works: the reserved one exists.
func TestRedisDatabaseExists(t *testing.T) {
	db := Redis(t)
	c := redisClient(t, db.Addr, db.DB)
	defer c.Close()
	if err := c.Do(t.Context(), c.B().Ping().Build()).Error(); err != nil {
		t.Fatalf("reserved database %d is not usable: %v", db.DB, err)
	}
}
