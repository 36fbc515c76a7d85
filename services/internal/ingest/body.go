package ingest

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/url"
	"strconv"
	"strings"
)

// mediaType is the lower-case media type of a Content-Type, without
// parameters; "" when it does not parse.
func mediaType(contentType string) string {
	if contentType == "application/json" {
		return contentType // the common case, without parsing
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	return mt
}

// body is a verified request body, parsed at most once and only when a
// profile reads a field of it.
type body struct {
	raw        []byte
	json, form bool

	parsed  bool
	tree    any
	values  url.Values
	treeErr error
}

func (b *body) formValues() (url.Values, error) {
	if b.values == nil {
		v, err := url.ParseQuery(string(b.raw))
		if err != nil {
			return nil, err
		}
		b.values = v
	}
	return b.values, nil
}

// field returns the text of the field at path: a string, or (numbers set) a
// number as written; ok is false when the field is absent or of another type. A JSON
// path may index arrays ("0.event"). A form body has only one level.
func (b *body) field(path []string, numbers bool) (v string, ok bool, err error) {
	switch {
	case b.form:
		vals, err := b.formValues()
		if err != nil || len(path) != 1 {
			return "", false, nil
		}
		if x := vals[path[0]]; len(x) == 1 {
			return x[0], true, nil
		}
		return "", false, nil
	case !b.json:
		return "", false, nil
	}
	if !b.parsed {
		b.parsed = true
		d := json.NewDecoder(bytes.NewReader(b.raw))
		d.UseNumber()
		if b.treeErr = d.Decode(&b.tree); b.treeErr != nil {
			b.treeErr = malformed(b.treeErr)
		}
	}
	if b.treeErr != nil {
		return "", false, b.treeErr
	}
	cur := b.tree
	for _, p := range path {
		switch node := cur.(type) {
		case map[string]any:
			cur = node[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(node) {
				return "", false, nil
			}
			cur = node[i]
		default:
			return "", false, nil
		}
	}
	switch x := cur.(type) {
	case string:
		return x, true, nil
	case json.Number:
		if numbers {
			return strings.Clone(x.String()), true, nil
		}
	}
	return "", false, nil
}

// firstKey returns the name of the first top-level key of a JSON object
// body, in the order sent, that equals pattern or, when pattern starts with
// "*", ends with the rest of it; "" when none does or the body is no
// object.
func (b *body) firstKey(pattern string) string {
	if !b.json {
		return ""
	}
	suffix, wild := strings.CutPrefix(pattern, "*")
	d := json.NewDecoder(bytes.NewReader(b.raw))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return ""
		}
		k, _ := t.(string)
		if wild && len(k) > len(suffix) && strings.HasSuffix(k, suffix) || !wild && k == pattern {
			return k
		}
		var skip json.RawMessage
		if d.Decode(&skip) != nil {
			return ""
		}
	}
	return ""
}

// isJSONObject reports whether a (valid JSON) body is an object.
func isJSONObject(raw []byte) bool {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c == '{'
	}
	return false
}
