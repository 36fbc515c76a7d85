package jsonguard_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/jsonguard"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

// syntaxCases are JSON texts (RFC 8259) and near misses. For a refused
// body: the byte offset the error must name and a part of its reason.
var syntaxCases = []struct {
	name, body string
	ok         bool
	offset     int
	reason     string
}{
	// Any JSON value is a JSON text, with whitespace around it.
	{name: "string", body: `"a"`, ok: true},
	{name: "number", body: `-0.5e+3`, ok: true},
	{name: "zero", body: `0`, ok: true},
	{name: "true", body: `true`, ok: true},
	{name: "false", body: `false`, ok: true},
	{name: "null", body: `null`, ok: true},
	{name: "empty array", body: `[]`, ok: true},
	{name: "empty object", body: `{ }`, ok: true},
	{name: "whitespace around", body: " \t\r\n{\"a\" : [ 1 , { } ] }\n", ok: true},
	{name: "nested", body: `[1,[2,{"b":null,"c":[true,false,-1E-2]}],"x"]`, ok: true},
	{name: "escapes", body: `{"a":"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"}`, ok: true},
	{name: "non-ASCII", body: `{"größe":"😀 ≠ ä"}`, ok: true},

	{"empty body", ``, false, 0, "found the end of the body (the body is empty or only whitespace)"},
	{"only whitespace", " \n\t", false, 3, "the body is empty or only whitespace"},
	{"bare word", `challenge_string`, false, 0, `expected a value (object, array, string, number, true, false or null) at byte 0, found 'c'`},
	{"trailing garbage", `{"a":1} trailing`, false, 8, "expected the end of the body after the top-level value (a body is one JSON value) at byte 8, found 't'"},
	{"two objects", `{"a":1}{"b":2}`, false, 7, "after the top-level value"},
	{"two scalars", `1 2`, false, 2, "after the top-level value"},
	{"unterminated array", `[1,2`, false, 4, "expected ',' or ']' at byte 4, found the end of the body (an array is not closed)"},
	{"unterminated object", `{"a":1`, false, 6, "expected ',' or '}' at byte 6, found the end of the body (an object is not closed)"},
	{"unterminated after comma", `[1,`, false, 3, "expected a value at byte 3, found the end of the body (an array is not closed)"},
	{"unterminated after colon", `{"a":`, false, 5, "(an object is not closed)"},
	{"unterminated after key", `{"a"`, false, 4, "expected ':' after an object key at byte 4"},
	{"unterminated after brace", `{`, false, 1, "expected a double-quoted object key at byte 1, found the end of the body"},
	{"unterminated nested", `{"a":[1,{}`, false, 10, "an array is not closed"},
	{"missing comma in object", `{"a":1 "b":2}`, false, 7, `expected ',' or '}' after an object member at byte 7, found '"'`},
	{"missing comma in array", `[1 2]`, false, 3, "expected ',' or ']' after an array element at byte 3, found '2'"},
	{"missing colon", `{"a" 1}`, false, 5, "expected ':' after an object key at byte 5, found '1'"},
	{"trailing comma in object", `{"a":1,}`, false, 7, "expected a double-quoted object key at byte 7, found '}'"},
	{"trailing comma in array", `[1,]`, false, 3, "expected a value (object, array, string, number, true, false or null) at byte 3, found ']'"},
	{"mismatched close", `{"a":1]`, false, 6, "found ']'"},
	{"array closed by brace", `[}`, false, 1, "found '}'"},
	{"object closed by bracket", `{]`, false, 1, "expected a double-quoted object key at byte 1, found ']'"},
	{"close only", `}`, false, 0, "found '}'"},
	{"number key", `{1:2}`, false, 1, "expected a double-quoted object key at byte 1, found '1'"},
	{"leading zero", `{"a":01}`, false, 5, "the number at byte 5 has a leading zero"},
	{"negative leading zero", `-01`, false, 0, "leading zero"},
	{"double zero", `[00]`, false, 1, "leading zero"},
	{"NaN", `{"amount":NaN}`, false, 10, "at byte 10, found 'N'"},
	{"Infinity", `Infinity`, false, 0, "found 'I'"},
	{"minus Infinity", `[-Infinity]`, false, 2, "expected a digit after '-' at byte 2, found 'I'"},
	{"lone minus", `-`, false, 1, "expected a digit after '-' at byte 1, found the end of the body"},
	{"plus sign", `+1`, false, 0, "found '+'"},
	{"leading point", `.5`, false, 0, "found '.'"},
	{"trailing point", `1.`, false, 2, "expected a digit after the decimal point at byte 2"},
	{"point then exponent", `1.e5`, false, 2, "decimal point at byte 2, found 'e'"},
	{"empty exponent", `1e`, false, 2, "expected a digit in the exponent at byte 2"},
	{"signed empty exponent", `[1E+]`, false, 4, "in the exponent at byte 4, found ']'"},
	{"hex number", `0x10`, false, 1, "after the top-level value (a body is one JSON value) at byte 1, found 'x'"},
	{"single-quoted key", `{'a':1}`, false, 1, `expected a double-quoted object key at byte 1, found '\''`},
	{"single-quoted value", `{"a":'b'}`, false, 5, `found '\''`},
	{"truncated true", `tru`, false, 0, `expected true at byte 0, found "tru"`},
	{"misspelt null", `[nul1]`, false, 1, `expected null at byte 1, found "nul1"`},
	{"capitalised True", `True`, false, 0, "found 'T'"},
	{"unterminated string", `{"a":"b`, false, 5, "the string that starts at byte 5 is not closed"},
	{"unterminated key", `{"a`, false, 1, "the string that starts at byte 1 is not closed"},
	{"escape at the end", `"\`, false, 0, "the string that starts at byte 0 is not closed"},
	{"raw newline in a string", "{\"a\":\"x\ny\"}", false, 7, "control character U+000A in a string at byte 7 must be escaped"},
	{"raw tab in a string", "[\"\t\"]", false, 2, "U+0009"},
	{"raw NUL in a string", "\"\x00\"", false, 1, "U+0000"},
	{"invalid escape", `{"a":"\x41"}`, false, 6, `invalid escape "\\x" in a string at byte 6`},
	{"escaped single quote", `"\'"`, false, 1, "invalid escape"},
	{"short unicode escape", `["\u12"]`, false, 2, `invalid escape "\\u12\"]" in a string at byte 2 (\u takes four hex digits)`},
	{"byte order mark", "\ufeff{}", false, 0, `found '\ufeff'`},
	{"form feed", "\f{}", false, 0, `found '\f'`},
	{"no-break space", "\u00a0{}", false, 0, `found '\u00a0'`},
	{"comment", `{"a":1 /* note */}`, false, 7, "found '/'"},
	{"invalid UTF-8 outside strings", "[1,\xff]", false, 3, "the body is not valid UTF-8 (at byte 3)"},
	// Valid JSON that jsonb refuses: refused, with the offset.
	{"NUL escape", `{"s":"ab\u0000"}`, false, 8, `the body contains a \u0000 escape, which cannot be stored (at byte 8)`},
	{"lone surrogate", `{"s":"\udc00"}`, false, 6, "unpaired UTF-16 surrogate escape, which cannot be stored (at byte 6)"},
	{"huge number", `{"n":[1,1e1000000]}`, false, 8, "the number 1e1000000 is outside the range PostgreSQL can store (at most 131072 digits before the decimal point and 16383 after), at byte 8"},
}

func TestCheckSyntax(t *testing.T) {
	for _, c := range syntaxCases {
		t.Run(c.name, func(t *testing.T) {
			err := jsonguard.Check([]byte(c.body), 0)
			if c.ok {
				if err != nil {
					t.Fatalf("Check(%q) = %v, want nil", c.body, err)
				}
				return
			}
			var gerr *jsonguard.Error
			if !errors.As(err, &gerr) {
				t.Fatalf("Check(%q) = %v, want an *Error", c.body, err)
			}
			if gerr.Offset != c.offset || !strings.Contains(gerr.Reason, c.reason) || gerr.Field != "" {
				t.Errorf("Check(%q) = %q at %d, want offset %d and a reason containing %q", c.body, gerr.Reason, gerr.Offset, c.offset, c.reason)
			}
			if want := fmt.Sprintf("at byte %d", c.offset); !strings.Contains(gerr.Reason, want) {
				t.Errorf("reason %q does not say %q", gerr.Reason, want)
			}
		})
	}
}

// TestCheckAgreesWithPostgres: what Check accepts, jsonb stores; what it
// refuses as not JSON, jsonb refuses too.
func TestCheckAgreesWithPostgres(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, c := range syntaxCases {
		if !utf8.ValidString(c.body) {
			continue // not text: PostgreSQL never sees it as JSON
		}
		var s string
		pgErr := conn.QueryRow(ctx, `select ($1::text)::jsonb::text`, c.body).Scan(&s)
		if (pgErr == nil) != c.ok {
			t.Errorf("%s %q: PostgreSQL err = %v, Check ok = %v", c.name, c.body, pgErr, c.ok)
		}
	}
}

func TestCheckDeeperLimit(t *testing.T) {
	deep := strings.Repeat(`{"a":[`, 50) + strings.Repeat("]}", 50) // 100 levels
	if err := jsonguard.Check([]byte(deep), 100); err != nil {
		t.Errorf("Check at a limit of 100 = %v", err)
	}
	var gerr *jsonguard.Error
	last := strings.LastIndexByte(deep, '[') // the 100th level
	if err := jsonguard.Check([]byte(deep), 99); !errors.As(err, &gerr) || gerr.Offset != last ||
		!strings.Contains(gerr.Reason, "deeper than 99 levels") {
		t.Errorf("Check at a limit of 99 = %v, want a depth error at byte %d", err, last)
	}
	if err := jsonguard.Check([]byte(deep[:len(deep)-1]), 100); !errors.As(err, &gerr) || gerr.Offset != len(deep)-1 ||
		!strings.Contains(gerr.Reason, "an object is not closed") {
		t.Errorf("Check of an unclosed deep body = %v", err)
	}
}

// FuzzCheckAgreesWithValid: Check never accepts what encoding/json.Valid
// refuses; it refuses more (invalid UTF-8, \u0000, lone surrogates, numbers
// numeric cannot hold, depth, duplicate keys), but never calls valid JSON
// "not valid JSON". Every refusal names a byte offset within the body, and
// a syntax error's offset is never past the point where encoding/json
// stopped.
func FuzzCheckAgreesWithValid(f *testing.F) {
	for _, c := range syntaxCases {
		f.Add([]byte(c.body))
	}
	f.Add([]byte(`{"eventId":"a","EventID":"b"}`))
	f.Add([]byte(`[[[[[[[[[[]]]]]]]]]]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		err := jsonguard.Check(b, 8)
		valid := json.Valid(b)
		if err == nil {
			if !valid {
				t.Fatalf("Check accepted %q, which encoding/json.Valid refuses", b)
			}
			return
		}
		var gerr *jsonguard.Error
		if !errors.As(err, &gerr) {
			t.Fatalf("not an *Error: %v", err)
		}
		if gerr.Offset < 0 || gerr.Offset > len(b) {
			t.Fatalf("offset %d outside the body of %d bytes: %v", gerr.Offset, len(b), err)
		}
		if gerr.Field == "" && !strings.Contains(gerr.Reason, fmt.Sprintf("at byte %d", gerr.Offset)) {
			t.Fatalf("reason %q does not name offset %d", gerr.Reason, gerr.Offset)
		}
		syntax := strings.HasPrefix(gerr.Reason, "the body is not valid JSON: ")
		if syntax && valid {
			t.Fatalf("Check calls %q not valid JSON (%v); encoding/json.Valid accepts it", b, err)
		}
		var serr *json.SyntaxError
		if syntax && errors.As(json.Unmarshal(b, new(any)), &serr) && int64(gerr.Offset) > serr.Offset {
			t.Fatalf("Check reports %q at byte %d, past encoding/json's %d (%v)", b, gerr.Offset, serr.Offset, serr)
		}
	})
}
