package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/invopop/validation"
)

// envelope is the default body (the seed's contract):
// {"provider": string, "eventId": string, "timestamp": RFC 3339, "data": object}.
// Only eventId is required; the others are checked when present.
type envelope struct {
	Provider  *string         `json:"provider"`
	EventID   string          `json:"eventId"`
	Timestamp *string         `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// decodeEnvelope parses body and validates it for the provider in the path.
func decodeEnvelope(body []byte, provider string) (envelope, error) {
	var e envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return e, malformed(err)
	}
	if e.valid(provider) {
		return e, nil
	}
	err := validation.ValidateStruct(&e,
		validation.Field(&e.EventID, validation.Required, validation.Length(1, 255)),
		validation.Field(&e.Timestamp, validation.NilOrNotEmpty, validation.Date(time.RFC3339).Error("must be an RFC 3339 date-time")),
		validation.Field(&e.Data, validation.By(jsonObject)),
		validation.Field(&e.Provider, validation.By(equal(provider))),
	)
	var verrs validation.Errors
	if errors.As(err, &verrs) {
		fields := make(map[string]string, len(verrs))
		for name, ferr := range verrs {
			fields[name] = ferr.Error()
		}
		return e, &InvalidError{Detail: "the body does not match the webhook envelope", Fields: fields}
	}
	if err != nil {
		return e, err
	}
	return e, nil
}

// valid is the rules below, written out for the common case of a valid
// envelope: validation.ValidateStruct costs more than the JSON decoding (it
// reflects over every field and allocates per rule). It never accepts what
// the rules refuse; any doubt falls through to ValidateStruct, which also
// builds the field errors.
func (e *envelope) valid(provider string) bool {
	if n := utf8.RuneCountInString(e.EventID); n < 1 || n > 255 {
		return false
	}
	if e.Timestamp != nil {
		if *e.Timestamp == "" {
			return false
		}
		if _, err := time.Parse(time.RFC3339, *e.Timestamp); err != nil {
			return false
		}
	}
	return jsonObject(e.Data) == nil && (e.Provider == nil || *e.Provider == provider)
}

// malformed turns a json.Unmarshal error into a precise InvalidError.
func malformed(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Field == "" {
			return &InvalidError{Detail: "the body must be a JSON object"}
		}
		return &InvalidError{
			Detail: "the body does not match the webhook envelope",
			Fields: map[string]string{typeErr.Field: "must be a " + jsonKind(typeErr.Type.Kind().String())},
		}
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return &InvalidError{Detail: fmt.Sprintf("the body is not valid JSON (at byte %d)", syntaxErr.Offset)}
	}
	return &InvalidError{Detail: "the body is not valid JSON"}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string", "ptr":
		return "string"
	case "slice":
		return "JSON object"
	}
	return goKind
}

func jsonObject(v any) error {
	raw, _ := v.(json.RawMessage)
	if raw == nil {
		return nil // absent: allowed
	}
	if b := bytes.TrimLeft(raw, " \t\r\n"); len(b) == 0 || b[0] != '{' {
		return errors.New("must be a JSON object")
	}
	return nil
}

func equal(provider string) validation.RuleFunc {
	return func(v any) error {
		p, _ := v.(*string)
		if p != nil && *p != provider {
			return fmt.Errorf("must equal the provider in the path (%q)", provider)
		}
		return nil
	}
}
