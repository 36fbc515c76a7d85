// Package problem writes RFC 9457 problem details (application/problem+json),
// the error body of every HTTP API of this project.
package problem

import (
	"encoding/json"
	"net/http"
)

// TypePrefix starts every problem type. Types are stable identifiers
// clients may switch on; they are not meant to be dereferenced.
const TypePrefix = "urn:webhook-ingestor:problem:"

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type   string            `json:"type"`
	Title  string            `json:"title"`
	Status int               `json:"status"`
	Detail string            `json:"detail,omitempty"`
	Errors map[string]string `json:"errors,omitempty"`
}

// New is a Problem of type TypePrefix+name.
func New(status int, name, title, detail string) Problem {
	return Problem{Type: TypePrefix + name, Title: title, Status: status, Detail: detail}
}

// Write sends p as the response.
func Write(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
