// Package httpapi is codecheck's REST API: Huma v2 operations for jobs,
// reports and live events (SSE), health and readiness probes, Prometheus
// metrics, bearer-key auth, the OpenAPI 3.1 spec and docs page, and the
// worker API (the worker's side of the store for workers that hold a
// per-job token instead of database credentials).
//
// It drives package app (the one adapter allowed to) and maps domain errors
// to RFC 9457 problem responses in one table (errors.go). It holds no state
// of its own beyond open event streams and must not touch storage directly:
// the worker API hands each call to the ports.WorkerStore it is given.
package httpapi
