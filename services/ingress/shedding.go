package main

import "net/http"

// admitter says whether the ingress takes new webhooks now
// (shedding.Sampler): nil, or an error wrapping shedding.ErrShedding.
type admitter interface{ Admit() error }

// shed refuses webhooks with 503 and Retry-After while the queue is near its
// limit (SHED_*), before the body is read: under overload the cheapest
// refusal is the best one, and the sender retries later.
func (s *server) shed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.shedder.Admit(); err != nil {
			s.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}
