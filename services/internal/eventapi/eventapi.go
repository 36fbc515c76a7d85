// Package eventapi is the read API over stored events: a commit-ordered
// stream with a cursor (GET /v1/events) and single events
// (GET /v1/events/{provider}/{eventId}), behind API keys. openapi.yaml in
// this folder is its contract.
package eventapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/justinas/alice"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/problem"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/store"
)

// Store is what the API reads.
type Store interface {
	Events(ctx context.Context, q store.Query) (store.Page, error)
	Event(ctx context.Context, provider, eventID string) (store.StoredEvent, error)
}

// Limits of a list request.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Config configures Handler.
type Config struct {
	Store Store
	// Keys are the accepted API keys; any of them opens every route.
	// Several keys allow rotation: add the new one, move clients, drop the
	// old one.
	Keys []string
	// Notifier wakes long polls when rows were inserted; nil: they poll
	// every PollInterval only.
	Notifier *store.Notifier
	// MaxWait caps wait=; PollInterval is how often a long poll re-reads
	// without a notification (the watermark also moves when transactions
	// that inserted nothing end).
	MaxWait      time.Duration
	PollInterval time.Duration
	// Done, when closed, ends long polls early (with what they have):
	// close it before shutting the server down.
	Done <-chan struct{}
	Log  *slog.Logger
}

type api struct {
	Config
	keys [][sha256.Size]byte
}

// Handler serves the read API.
func Handler(cfg Config) http.Handler {
	a := &api{Config: cfg}
	for _, k := range cfg.Keys {
		a.keys = append(a.keys, sha256.Sum256([]byte(k)))
	}
	if a.PollInterval <= 0 {
		a.PollInterval = time.Second
	}
	if a.Log == nil {
		a.Log = slog.Default()
	}
	chain := alice.New(a.recoverer, a.authenticate)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/events", a.list)
	mux.HandleFunc("GET /v1/events/{provider}/{eventId}", a.get)
	mux.HandleFunc("GET /v1/events/{provider}/{eventId}/body", a.body)
	for _, p := range []string{"/v1/events", "/v1/events/{provider}/{eventId}", "/v1/events/{provider}/{eventId}/body"} {
		mux.HandleFunc(p, methodNotAllowed)
	}
	mux.HandleFunc("/", notFound)
	return chain.Then(mux)
}

// authenticate lets a request through when its bearer token is one of the
// keys. Tokens are compared as SHA-256 digests in constant time, against
// every key without stopping at a match, so timing tells nothing about a
// key's bytes, its length or which key matched.
func (a *api) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="events"`)
			problem.Write(w, problem.New(http.StatusUnauthorized, "unauthorized", "Unauthorized",
				"send an API key as Authorization: Bearer <key>"))
			return
		}
		sum := sha256.Sum256([]byte(token))
		match := 0
		for i := range a.keys {
			match |= subtle.ConstantTimeCompare(sum[:], a.keys[i][:])
		}
		if match != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="events", error="invalid_token"`)
			problem.Write(w, problem.New(http.StatusUnauthorized, "unauthorized", "Unauthorized", "the API key is not valid"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *api) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.Log.ErrorContext(r.Context(), "panic", "panic", fmt.Sprint(v), "path", r.URL.Path)
				internalError(w)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "GET")
	problem.Write(w, problem.New(http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed", "only GET is allowed here"))
}

func notFound(w http.ResponseWriter, r *http.Request) {
	problem.Write(w, problem.New(http.StatusNotFound, "not-found", "Not found", "no such route"))
}

func internalError(w http.ResponseWriter) {
	problem.Write(w, problem.New(http.StatusInternalServerError, "internal", "Internal error", "the events could not be read; retry later"))
}

func (a *api) storeError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away
	}
	a.Log.ErrorContext(r.Context(), "read events", "err", err, "path", r.URL.Path)
	w.Header().Set("Retry-After", "1")
	problem.Write(w, problem.New(http.StatusServiceUnavailable, "store-unavailable", "Store unavailable", "the events could not be read; retry later"))
}

func invalid(w http.ResponseWriter, fields map[string]string) {
	p := problem.New(http.StatusBadRequest, "invalid-query", "Invalid query", "see errors")
	p.Errors = fields
	problem.Write(w, p)
}

// eventJSON is an event as the API returns it.
type eventJSON struct {
	Provider    string          `json:"provider"`
	EventID     string          `json:"eventId"`
	EventType   string          `json:"eventType,omitempty"`
	ContentType string          `json:"contentType"`
	Body        []byte          `json:"body"` // base64 (standard, padded)
	Payload     json.RawMessage `json:"payload,omitempty"`
	Headers     json.RawMessage `json:"headers"`
	ReceivedAt  time.Time       `json:"receivedAt"`
	StoredAt    time.Time       `json:"storedAt"`
	Cursor      string          `json:"cursor"`
}

func toJSON(e store.StoredEvent) eventJSON {
	headers := e.Headers
	if len(headers) == 0 {
		headers = json.RawMessage(`{}`)
	}
	body := e.Body
	if body == nil && e.Payload != nil {
		// Rows stored before raw bodies were kept have their payload only.
		body = e.Payload
	}
	if body == nil {
		body = []byte{}
	}
	return eventJSON{Provider: e.Provider, EventID: e.EventID, EventType: e.EventType, ContentType: e.ContentType,
		Body: body, Payload: e.Payload, Headers: headers, ReceivedAt: e.ReceivedAt.UTC(), StoredAt: e.PersistedAt.UTC(),
		Cursor: e.Cursor.String()}
}

// pageJSON is a page of the stream.
type pageJSON struct {
	Events []eventJSON `json:"events"`
	// Next is the cursor to pass as after= for the next page. It is
	// returned on every page, empty or not.
	Next string `json:"next"`
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

// list is GET /v1/events?provider=&type=&after=&limit=&wait=.
func (a *api) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	bad := map[string]string{}
	query := store.Query{Provider: q.Get("provider"), EventType: q.Get("type"), Limit: DefaultLimit}
	var err error
	if query.After, err = store.ParseCursor(q.Get("after")); err != nil {
		bad["after"] = "not a cursor this API returned"
	}
	if s := q.Get("limit"); s != "" {
		if n, err := strconv.Atoi(s); err != nil || n < 1 || n > MaxLimit {
			bad["limit"] = fmt.Sprintf("must be an integer from 1 to %d", MaxLimit)
		} else {
			query.Limit = n
		}
	}
	var wait time.Duration
	if s := q.Get("wait"); s != "" {
		if wait, err = parseWait(s); err != nil || wait < 0 || wait > a.MaxWait {
			bad["wait"] = fmt.Sprintf("must be a duration (30s) or seconds (30) from 0 to %s", a.MaxWait)
		}
	}
	if len(bad) > 0 {
		invalid(w, bad)
		return
	}

	ctx := r.Context()
	deadline := time.Now().Add(wait)
	for {
		var wake <-chan struct{}
		if a.Notifier != nil {
			wake = a.Notifier.C() // before the read: a commit after it wakes us
		}
		page, err := a.Store.Events(ctx, query)
		if err != nil {
			a.storeError(w, r, err)
			return
		}
		left := time.Until(deadline)
		if len(page.Events) > 0 || left <= 0 {
			out := pageJSON{Events: make([]eventJSON, len(page.Events)), Next: page.Next.String()}
			for i, e := range page.Events {
				out.Events[i] = toJSON(e)
			}
			writeJSON(w, out)
			return
		}
		query.After = page.Next
		t := time.NewTimer(min(left, a.PollInterval))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-wake:
		case <-t.C:
		case <-a.Done:
			deadline = time.Now()
		}
		t.Stop()
	}
}

func parseWait(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}

func (a *api) find(w http.ResponseWriter, r *http.Request) (store.StoredEvent, bool) {
	e, err := a.Store.Event(r.Context(), r.PathValue("provider"), r.PathValue("eventId"))
	if errors.Is(err, store.ErrNotFound) {
		problem.Write(w, problem.New(http.StatusNotFound, "not-found", "Event not found",
			"no event with this provider and id is stored (it may have expired)"))
		return e, false
	}
	if err != nil {
		a.storeError(w, r, err)
		return e, false
	}
	return e, true
}

// get is GET /v1/events/{provider}/{eventId}: the event as JSON, its body
// base64-encoded.
func (a *api) get(w http.ResponseWriter, r *http.Request) {
	if e, ok := a.find(w, r); ok {
		writeJSON(w, toJSON(e))
	}
}

// body is GET /v1/events/{provider}/{eventId}/body: the exact bytes
// received, with their content type.
func (a *api) body(w http.ResponseWriter, r *http.Request) {
	e, ok := a.find(w, r)
	if !ok {
		return
	}
	j := toJSON(e)
	w.Header().Set("Content-Type", j.ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition", "attachment")
	_, _ = w.Write(j.Body)
}
