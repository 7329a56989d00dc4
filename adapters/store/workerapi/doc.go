// Package workerapi is a store adapter for workers that hold a per-job
// worker token instead of database credentials: it satisfies
// ports.WorkerStore and ports.Changes by calling the worker API of
// `codecheck serve` (/worker/jobs/{id}/...) with net/http.
//
// Each operation is one request; transient failures (connection errors,
// 502, 503, 504, and 429) are retried with backoff within a bounded time,
// and 4xx answers are never retried. Problem answers become domain errors
// again (409 lease-lost -> domain.ErrLeaseLost, and so on).
//
// Watch costs no request while the worker's own calls keep answering: a
// fenced write refused with a lost lease wakes the job's watchers, and a
// slow poll of the job runs only when nothing was heard of the job for a
// poll interval (see WithWatchInterval). A 13-section job therefore costs
// 31 requests plus one per heartbeat: GET the job twice (before the claim,
// and when the worker starts watching), claim, GET its saved sections, 26
// section saves (running, then done), finish. A cancel is seen at the
// next refused heartbeat or save, or the next poll, whichever comes first.
//
// The client is also the worker's ports.ProviderBudget: the per-minute
// budget and pauses of the server's store, shared with every process on
// it. Each provider call costs one more request (take a call's slot), a
// second when it had to wait for its slot (read the pause before calling),
// and a provider answer with Retry-After one (pause the provider): a
// 13-section job at the limit adds 13 to 26.
//
// A job that allows reuse asks once for each of its five jurisdiction-wide
// sections whether another job of its jurisdiction researched it (GET
// .../reusable/{key}, 404 when not); a section reused costs its two saves
// and no provider call.
//
// It must not import another adapter: its wire structs are its own copy of
// the API's (api/openapi.yaml). It never logs or returns the token.
package workerapi
