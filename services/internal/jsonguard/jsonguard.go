// Package jsonguard decides whether a JSON body can be accepted: it is a
// full validator of JSON texts (RFC 8259: one value, of any kind, with
// whitespace around it) that also refuses what Go's decoder would accept but
// what is read differently elsewhere or poisons the pipeline further down:
//
//   - bytes that are not UTF-8 (encoding/json silently replaces them, while
//     PostgreSQL's jsonb refuses the row: the job could never be stored);
//   - \u0000 and unpaired surrogate escapes (jsonb refuses those too);
//   - numbers outside the range of PostgreSQL's numeric (see numbers.go);
//   - nesting deeper than a limit (stack and CPU spent on hostile input);
//   - the same key twice in the top-level object (`{"eventId":"a",
//     "eventId":"b"}`: parsers disagree on which one wins, a classic
//     parser-differential trick; escaped spellings such as "event\u0049d"
//     count as the same key, and so do spellings that differ only in case,
//     such as "eventId" and "EventID" or "id" and "ID": Go's decoder matches
//     struct fields case-insensitively, so it would pick one of them while
//     another reader picks the other).
//
// So a body Check accepts is one jsonb stores (bodies are far below jsonb's
// size limits): a 202 is never followed by a dead letter for the body's
// syntax. It accepts nothing encoding/json.Valid refuses
// (FuzzCheckAgreesWithValid) and refuses more (the list above); what it
// refuses as not JSON, PostgreSQL refuses too (TestCheckAgreesWithPostgres).
// Top-level scalars ("text", 42, null) are JSON texts and pass; profiles
// that need an object refuse them later.
//
// Check is one pass over the bytes, allocation-free for ordinary bodies (up
// to 64 levels, up to 32 top-level keys without escapes). Every refusal
// names what is wrong and its byte offset.
//
// Cost, ns per body (go test -bench . -run XXX, medians of 22 runs of the
// old and new code taken in turns on a shared 2-core VM, where single runs
// vary by ±40%). Before, the ingress ran Check and then a second pass,
// CheckNumbers, for numbers jsonb cannot hold; now Check does both and
// validates the syntax. Adding encoding/json.Valid as a third pass would
// have cost its column on top of the old two:
//
//	body (bench_test.go)     old Check  +CheckNumbers  = old total   new Check   json.Valid
//	envelope, 143 B                532            212         744         443         1113
//	numbers, 121 B                 450            322         772         514         1098
//	GitHub delivery, 6337 B      16448           8282       24730       10978        49831
package jsonguard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// DefaultMaxDepth is far above what providers send (Stripe and GitHub
// payloads nest fewer than 10 levels) and far below what hurts.
const DefaultMaxDepth = 64

// Error is a body Check refuses. Reason says what is wrong and where; Offset
// is that byte offset in the body. Field is the offending top-level key for
// duplicates (Reason is then "duplicate key" and Offset the second key's
// opening quote; "(empty key)" stands for "", "(key)" for a key that cannot
// be echoed), empty otherwise.
type Error struct {
	Field  string
	Reason string
	Offset int
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Reason
	}
	return e.Reason
}

// syntaxPrefix starts the Reason of every body that is not JSON text at all
// (as opposed to JSON that cannot be stored or is ambiguous).
const syntaxPrefix = "the body is not valid JSON: "

func syntaxError(off int, format string, args ...any) error {
	return &Error{Offset: off, Reason: syntaxPrefix + fmt.Sprintf(format, args...)}
}

// found describes what is at b[i] for an error message: a quoted
// character, or the end of the body.
func found(b []byte, i int) string {
	if i >= len(b) {
		return "the end of the body"
	}
	r, _ := utf8.DecodeRune(b[i:])
	return strconv.QuoteRune(r)
}

// unexpected is the error for b[i] where something else was expected; bytes
// that are not UTF-8 are reported as such.
func unexpected(b []byte, i int, expected string) error {
	if i < len(b) && b[i] >= utf8.RuneSelf {
		if r, size := utf8.DecodeRune(b[i:]); r == utf8.RuneError && size <= 1 {
			return utf8Error(i)
		}
	}
	return syntaxError(i, "expected %s at byte %d, found %s", expected, i, found(b, i))
}

// unexpectedEnd names the innermost container left open at the end.
func unexpectedEnd(b []byte, stack []bool, expected string) error {
	what := "the body ends early"
	if n := len(stack); n > 0 {
		what = "an array is not closed"
		if stack[n-1] {
			what = "an object is not closed"
		}
	}
	return syntaxError(len(b), "expected %s at byte %d, found the end of the body (%s)", expected, len(b), what)
}

func utf8Error(i int) error {
	return &Error{Offset: i, Reason: fmt.Sprintf("the body is not valid UTF-8 (at byte %d)", i)}
}

type span struct{ start, end int } // a key's bytes, without the quotes

// skipSpace skips the whitespace RFC 8259 allows between tokens (no BOM, no
// form feed, no Unicode spaces: encoding/json and jsonb refuse those too).
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// Check returns nil or an *Error. maxDepth <= 0 means DefaultMaxDepth.
func Check(b []byte, maxDepth int) error {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	var (
		stackArr [DefaultMaxDepth]bool // one per open container: true for an object
		stack    = stackArr[:0]
		escaped  bool // some top-level key uses escapes
		spansArr [32]span
		spans    = spansArr[:0]
		err      error
	)
	i := skipSpace(b, 0)
	if i == len(b) {
		return syntaxError(i, "expected a value at byte %d, found the end of the body (the body is empty or only whitespace)", i)
	}
	// The loop starts where a value, or with member set an object member,
	// must begin (whitespace skipped), reads it, then what may follow it, up
	// to the next one.
	member := false
value:
	for {
		if member {
			var key span
			var esc bool
			if i, key, esc, err = scanKey(b, i, stack); err != nil {
				return err
			}
			if len(stack) == 1 {
				spans = append(spans, key)
				escaped = escaped || esc
			}
			member = false
		}
		if i >= len(b) {
			return unexpectedEnd(b, stack, "a value")
		}
		switch c := b[i]; c {
		case '{', '[':
			if len(stack) >= maxDepth {
				return &Error{Offset: i, Reason: fmt.Sprintf("the body nests JSON deeper than %d levels (at byte %d)", maxDepth, i)}
			}
			stack = append(stack, c == '{')
			i = skipSpace(b, i+1)
			if i < len(b) && b[i] == c+2 { // '{'+2 is '}', '['+2 is ']'
				stack = stack[:len(stack)-1]
				i++
				break
			}
			member = c == '{'
			continue value
		case '"':
			var end int
			if end, _, err = scanString(b, i+1); err != nil {
				return err
			}
			i = end + 1
		case 't':
			if i, err = literal(b, i, "true"); err != nil {
				return err
			}
		case 'f':
			if i, err = literal(b, i, "false"); err != nil {
				return err
			}
		case 'n':
			if i, err = literal(b, i, "null"); err != nil {
				return err
			}
		default:
			if c != '-' && (c < '0' || c > '9') {
				return unexpected(b, i, "a value (object, array, string, number, true, false or null)")
			}
			if i, err = scanNumber(b, i); err != nil {
				return err
			}
		}
		// After a value: a comma and the next one, the end of containers,
		// or the end of the body.
		for {
			i = skipSpace(b, i)
			n := len(stack)
			if n == 0 {
				if i < len(b) {
					return unexpected(b, i, "the end of the body after the top-level value (a body is one JSON value)")
				}
				return duplicates(b, spans, escaped)
			}
			object := stack[n-1]
			if i >= len(b) {
				if object {
					return unexpectedEnd(b, stack, "',' or '}'")
				}
				return unexpectedEnd(b, stack, "',' or ']'")
			}
			switch c := b[i]; {
			case c == ',':
				i = skipSpace(b, i+1)
				member = object
				continue value
			case object && c == '}', !object && c == ']':
				stack = stack[:n-1]
				i++
			case object:
				return unexpected(b, i, "',' or '}' after an object member")
			default:
				return unexpected(b, i, "',' or ']' after an array element")
			}
		}
	}
}

// scanKey reads an object key at b[i] and the colon after it, and returns
// the index where the member's value must begin and the key's span.
func scanKey(b []byte, i int, stack []bool) (next int, key span, hasEscape bool, err error) {
	if i >= len(b) {
		return 0, key, false, unexpectedEnd(b, stack, "a double-quoted object key")
	}
	if b[i] != '"' {
		return 0, key, false, unexpected(b, i, "a double-quoted object key")
	}
	end, hasEscape, err := scanString(b, i+1)
	if err != nil {
		return 0, key, false, err
	}
	key = span{i + 1, end}
	i = skipSpace(b, end+1)
	if i >= len(b) {
		return 0, key, false, unexpectedEnd(b, stack, "':' after an object key")
	}
	if b[i] != ':' {
		return 0, key, false, unexpected(b, i, "':' after an object key")
	}
	return skipSpace(b, i+1), key, hasEscape, nil
}

// literal reads true, false or null at b[i].
func literal(b []byte, i int, word string) (int, error) {
	if !bytes.HasPrefix(b[i:], []byte(word)) {
		return 0, syntaxError(i, "expected %s at byte %d, found %s", word, i, quoteSome(b[i:], len(word)))
	}
	return i + len(word), nil
}

// quoteSome quotes up to n bytes of b, for an error message (bytes that
// are not UTF-8 come out as \x escapes).
func quoteSome(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return strconv.Quote(string(b))
}

// scanNumber reads a number at b[i] (a '-' or a digit) and checks that
// PostgreSQL's numeric can hold it.
func scanNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
		if i < len(b) && '0' <= b[i] && b[i] <= '9' {
			return 0, syntaxError(start, "the number at byte %d has a leading zero", start)
		}
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return 0, syntaxError(i, "expected a digit after '-' at byte %d, found %s", i, found(b, i))
	}
	exp := false
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return 0, syntaxError(i, "expected a digit after the decimal point at byte %d, found %s", i, found(b, i))
		}
		i = digits(b, i+1)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		exp = true
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return 0, syntaxError(i, "expected a digit in the exponent at byte %d, found %s", i, found(b, i))
		}
		i = digits(b, i+1)
	}
	// Without an exponent, a number shorter than numeric's scale limit
	// always fits: only long numbers and exponents need a closer look.
	if (exp || i-start > pgMaxScale) && !numberFits(b[start:i]) {
		return 0, numberError(b[start:i], start)
	}
	return i, nil
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// plain marks the bytes a string may hold as they are: not the quote, the
// backslash, a control character or the start of a multi-byte sequence.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString scans a string body starting at b[i] (after the opening quote)
// and returns the index of the closing quote.
func scanString(b []byte, i int) (end int, hasEscape bool, err error) {
	open := i - 1
	for i < len(b) {
		c := b[i]
		if plain[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			return i, hasEscape, nil
		case c == '\\':
			hasEscape = true
			if i+1 >= len(b) {
				return 0, false, unterminated(open)
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
				continue
			case 'u':
			default:
				return 0, false, syntaxError(i, "invalid escape %s in a string at byte %d", quoteSome(b[i:], 2), i)
			}
			r, ok := hex4(b, i+2)
			if !ok {
				return 0, false, syntaxError(i, "invalid escape %s in a string at byte %d (\\u takes four hex digits)", quoteSome(b[i:], 6), i)
			}
			switch {
			case r == 0:
				return 0, false, &Error{Offset: i, Reason: fmt.Sprintf(`the body contains a \u0000 escape, which cannot be stored (at byte %d)`, i)}
			case 0xD800 <= r && r < 0xDC00: // high surrogate: a low one must follow
				if i+11 >= len(b) || b[i+6] != '\\' || b[i+7] != 'u' {
					return 0, false, surrogateError(i)
				}
				lo, ok := hex4(b, i+8)
				if !ok || lo < 0xDC00 || lo > 0xDFFF {
					return 0, false, surrogateError(i)
				}
				i += 12
			case 0xDC00 <= r && r <= 0xDFFF:
				return 0, false, surrogateError(i)
			default:
				i += 6
			}
		case c < 0x20:
			return 0, false, syntaxError(i, "control character %U in a string at byte %d must be escaped", c, i)
		default: // c >= utf8.RuneSelf
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				return 0, false, utf8Error(i)
			}
			i += size
		}
	}
	return 0, false, unterminated(open)
}

func unterminated(open int) error {
	return syntaxError(open, "the string that starts at byte %d is not closed", open)
}

func surrogateError(i int) error {
	return &Error{Offset: i, Reason: fmt.Sprintf("the body contains an unpaired UTF-16 surrogate escape, which cannot be stored (at byte %d)", i)}
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

// maxFieldEcho bounds how much of a duplicate key is echoed back.
const maxFieldEcho = 64

func duplicates(b []byte, spans []span, escaped bool) error {
	if len(spans) < 2 {
		return nil
	}
	if !escaped && len(spans) <= 32 {
		for i := 1; i < len(spans); i++ {
			ki := b[spans[i].start:spans[i].end]
			for j := 0; j < i; j++ {
				if sameKey(ki, b[spans[j].start:spans[j].end]) {
					return dupError(string(ki), spans[i].start-1)
				}
			}
		}
		return nil
	}
	seen := make(map[string]struct{}, len(spans))
	var folded []byte
	for _, s := range spans {
		k := string(b[s.start:s.end])
		if bytes.IndexByte(b[s.start:s.end], '\\') >= 0 {
			var u string
			if err := json.Unmarshal(b[s.start-1:s.end+1], &u); err != nil {
				return syntaxError(s.start-1, "the key at byte %d is not a valid string", s.start-1) // Check scanned it: not reached
			}
			k = u
		}
		folded = appendFolded(folded[:0], k)
		if _, dup := seen[string(folded)]; dup {
			return dupError(k, s.start-1)
		}
		seen[string(folded)] = struct{}{}
	}
	return nil
}

// fold maps a rune to one representative of every spelling a
// case-insensitive reader may take for it: encoding/json folds a key with
// upper(lower(r)) (so "İ" reads as "I"), strings.EqualFold and most other
// libraries with Unicode simple case folding (so the Kelvin sign reads as
// "K", "ſ" as "S"). The smallest rune of the simple-folding orbit of
// upper(lower(r)) is the same for all of them.
func fold(r rune) rune {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' {
			r -= 'a' - 'A'
		}
		return r
	}
	r = unicode.ToUpper(unicode.ToLower(r))
	lowest := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		lowest = min(lowest, f)
	}
	return lowest
}

// sameKey reports whether two raw keys (no escapes) fold to the same key.
func sameKey(a, b []byte) bool {
	for len(a) > 0 && len(b) > 0 {
		if a[0] < utf8.RuneSelf && b[0] < utf8.RuneSelf {
			if fold(rune(a[0])) != fold(rune(b[0])) {
				return false
			}
			a, b = a[1:], b[1:]
			continue
		}
		ra, na := utf8.DecodeRune(a)
		rb, nb := utf8.DecodeRune(b)
		if fold(ra) != fold(rb) {
			return false
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) == len(b)
}

func appendFolded(dst []byte, k string) []byte {
	for _, r := range k {
		dst = utf8.AppendRune(dst, fold(r))
	}
	return dst
}

// dupError names the second spelling of a key; off is its opening quote.
func dupError(key string, off int) error {
	if len(key) > maxFieldEcho {
		key = key[:maxFieldEcho]
	}
	switch {
	case key == "":
		key = "(empty key)"
	case !utf8.ValidString(key):
		key = "(key)"
	}
	return &Error{Field: key, Reason: "duplicate key", Offset: off}
}
