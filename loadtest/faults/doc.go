// Package faults is a black-box fault-injection suite for the webhook
// ingestor: it starts its own Redis (AOF) and PostgreSQL on private loopback
// ports, runs the real bin/ingress and bin/worker as processes under load,
// kills, restarts and starves them, and audits that every accepted event ends
// up as exactly one row.
//
// The tests sit behind the `faults` build tag:
//
//	go test -tags faults -short ./loadtest/faults/   # shortened, as in CI
//	go test -tags faults ./loadtest/faults/          # full length
//
// See README.md for the delivery semantics and the runbook per scenario.
package faults
