// Package httpapi is codecheck's REST API: Huma v2 operations for jobs,
// reports and live events (SSE), health and readiness probes, Prometheus
// metrics, bearer-key auth, and the OpenAPI 3.1 spec and docs page.
//
// It drives package app (the one adapter allowed to) and maps domain errors
// to RFC 9457 problem responses in one table (errors.go). It holds no state
// of its own beyond open event streams and must not touch storage directly.
package httpapi
