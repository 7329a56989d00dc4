// Package app holds codecheck's use cases: submitting, reading, listing,
// canceling and retrying jobs (Service), processing one job with the
// research agent (Worker), and handing pending jobs to an executor
// (Dispatcher).
//
// It depends only on domain and ports, never on an adapter: storage,
// executors and LLM providers arrive as interfaces.
package app
