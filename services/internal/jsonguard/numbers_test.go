package jsonguard_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/jsonguard"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

// numberCases are JSON numbers at and around numeric's limits, with what
// PostgreSQL 15 answered for '[<n>]'::jsonb.
var numberCases = []struct {
	n  string
	ok bool
}{
	{"0", true}, {"-0", true}, {"1E+5", true}, {"12.5e-3", true},
	{"1e1000000", false}, {"1e-1000000", false},
	{"1e131071", true}, {"9.99e131071", true}, {"-1e131071", true}, {"1e+0131071", true},
	{"1e131072", false}, {"10e131071", false},
	{"0.001e131074", true}, {"0.0001e131075", true}, {"0.001e131075", false},
	{"1e-16383", true}, {"1e-16384", false}, {"100e-16385", false},
	{"1.00000e-16378", true}, {"1.000000e-16378", false}, {"1.5e-16383", false},
	{"0e1000000", true}, {"0.000e1000000", true}, {"0e-20000", false}, {"0.0e-16383", false},
	{"0e1073741822", true}, {"0e1073741823", false}, {"0e99999999999", false}, {"1e-99999999999999999999", false},
	{"123456789012345678901234567890e-16383", true},
	{"0." + strings.Repeat("0", 16382) + "1", true}, {"0." + strings.Repeat("0", 16383) + "1", false},
	{"1" + strings.Repeat("0", 131071), true}, {"1" + strings.Repeat("0", 131072), false},
}

func TestCheckNumbers(t *testing.T) {
	for _, c := range numberCases {
		for _, body := range []string{`[` + c.n + `]`, `{"eventId":"x","data":{"a":[1,` + c.n + `]}}`, c.n, " " + c.n + "\n"} {
			err := jsonguard.Check([]byte(body), 0)
			if (err == nil) != c.ok {
				t.Errorf("Check(%.60s) = %v, want ok=%v", body, err, c.ok)
			}
			var gerr *jsonguard.Error
			if err != nil && (!errors.As(err, &gerr) || gerr.Field != "" || len(err.Error()) > 200 ||
				gerr.Offset != strings.Index(body, c.n) || !strings.HasSuffix(gerr.Reason, fmt.Sprintf(", at byte %d", gerr.Offset))) {
				t.Errorf("Check(%.60s) = %q: want an *Error without Field, short, at the number's offset %d", body, err, strings.Index(body, c.n))
			}
		}
	}
	// Numbers inside strings are text.
	if err := jsonguard.Check([]byte(`{"a":"1e1000000","b\"1e1000000":"x\\"}`), 0); err != nil {
		t.Errorf("a number inside a string was refused: %v", err)
	}
}

// TestCheckNumbersAgreesWithPostgres asks the real PostgreSQL about every
// case, so a PostgreSQL that moves a limit fails this test.
func TestCheckNumbersAgreesWithPostgres(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, c := range numberCases {
		var s string
		pgErr := conn.QueryRow(ctx, `select ($1::text)::jsonb::text`, "["+c.n+"]").Scan(&s)
		guardOK := jsonguard.Check([]byte("["+c.n+"]"), 0) == nil
		if (pgErr == nil) != guardOK {
			t.Errorf("%.60s: PostgreSQL err = %v, Check ok = %v", c.n, pgErr, guardOK)
		}
	}
}
