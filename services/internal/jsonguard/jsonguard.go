// Package jsonguard refuses JSON bodies that Go's decoder would accept but
// that are read differently elsewhere or poison the pipeline further down:
//
//   - bytes that are not UTF-8 (encoding/json silently replaces them, while
//     PostgreSQL's jsonb refuses the row: the job could never be stored);
//   - \u0000 and unpaired surrogate escapes (jsonb refuses those too);
//   - nesting deeper than a limit (stack and CPU spent on hostile input);
//   - the same key twice in the top-level object (`{"eventId":"a",
//     "eventId":"b"}`: parsers disagree on which one wins, a classic
//     parser-differential trick; escaped spellings such as "event\u0049d"
//     count as the same key, and so do spellings that differ only in case,
//     such as "eventId" and "EventID" or "id" and "ID": Go's decoder matches
//     struct fields case-insensitively, so it would pick one of them while
//     another reader picks the other).
//
// Check is one pass over the bytes, allocation-free for ordinary bodies. It is
// not a full JSON validator: callers still decode the body, which reports
// syntax errors.
package jsonguard

import (
	"bytes"
	"encoding/json"
	"unicode"
	"unicode/utf8"
)

// DefaultMaxDepth is far above what providers send (Stripe and GitHub
// payloads nest fewer than 10 levels) and far below what hurts.
const DefaultMaxDepth = 64

// Error is a body Check refuses. Field is the offending top-level key for
// duplicates, empty otherwise.
type Error struct {
	Field  string
	Reason string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Reason
	}
	return e.Reason
}

var (
	errUTF8      = &Error{Reason: "the body is not valid UTF-8"}
	errDepth     = &Error{Reason: "the body nests JSON deeper than allowed"}
	errNul       = &Error{Reason: `the body contains a \u0000 escape, which cannot be stored`}
	errSurrogate = &Error{Reason: "the body contains an unpaired UTF-16 surrogate escape, which cannot be stored"}
	errString    = &Error{Reason: "the body contains an unterminated or malformed string"}
)

type span struct{ start, end int } // a key's bytes, without the quotes

// Check returns nil or an *Error. maxDepth <= 0 means DefaultMaxDepth.
func Check(b []byte, maxDepth int) error {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	var (
		depth     int
		topObject bool // the top-level value is an object
		expectKey bool // the next string at depth 1 is a key
		escaped   bool // some top-level key uses escapes
		spansArr  [32]span
		spans     = spansArr[:0]
	)
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '"':
			end, hasEscape, err := scanString(b, i+1)
			if err != nil {
				return err
			}
			if depth == 1 && topObject && expectKey {
				spans = append(spans, span{i + 1, end})
				escaped = escaped || hasEscape
				expectKey = false
			}
			i = end // the closing quote
		case c == '{' || c == '[':
			depth++
			if depth > maxDepth {
				return errDepth
			}
			if depth == 1 {
				topObject = c == '{'
				expectKey = topObject
			}
		case c == '}' || c == ']':
			depth--
		case c == ',':
			if depth == 1 && topObject {
				expectKey = true
			}
		case c >= utf8.RuneSelf:
			// Outside strings this is a syntax error the decoder reports,
			// but report encoding problems first.
			if r, size := utf8.DecodeRune(b[i:]); r == utf8.RuneError && size <= 1 {
				return errUTF8
			} else {
				i += size - 1
			}
		}
	}
	return duplicates(b, spans, escaped)
}

// scanString scans a string body starting at b[i] (after the opening quote)
// and returns the index of the closing quote.
func scanString(b []byte, i int) (end int, hasEscape bool, err error) {
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '"':
			return i, hasEscape, nil
		case c == '\\':
			hasEscape = true
			if i+1 >= len(b) {
				return 0, false, errString
			}
			if b[i+1] != 'u' {
				i++
				continue
			}
			r, ok := hex4(b, i+2)
			if !ok {
				return 0, false, errString
			}
			switch {
			case r == 0:
				return 0, false, errNul
			case 0xD800 <= r && r < 0xDC00: // high surrogate: a low one must follow
				if i+11 >= len(b) || b[i+6] != '\\' || b[i+7] != 'u' {
					return 0, false, errSurrogate
				}
				lo, ok := hex4(b, i+8)
				if !ok || lo < 0xDC00 || lo > 0xDFFF {
					return 0, false, errSurrogate
				}
				i += 11
			case 0xDC00 <= r && r <= 0xDFFF:
				return 0, false, errSurrogate
			default:
				i += 5
			}
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				return 0, false, errUTF8
			}
			i += size - 1
		}
	}
	return 0, false, errString
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
					return dupError(string(ki))
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
				return errString
			}
			k = u
		}
		folded = appendFolded(folded[:0], k)
		if _, dup := seen[string(folded)]; dup {
			return dupError(k)
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

func dupError(key string) error {
	if len(key) > maxFieldEcho {
		key = key[:maxFieldEcho]
	}
	if !utf8.ValidString(key) {
		key = "(key)"
	}
	return &Error{Field: key, Reason: "duplicate key"}
}
