package ports

import (
	"context"
	"time"

	"github.com/codecheck/codecheck/domain"
)

// Lease identifies one worker's hold on a job: the job id and the attempt it
// claimed. The attempt is the fencing token: every write a worker makes
// carries its lease and is refused once the job has moved to another attempt
// or was canceled.
type Lease struct {
	JobID   string
	Attempt int
}

// ListFilter selects and pages jobs, newest first.
type ListFilter struct {
	Status domain.JobStatus // empty: any status
	Limit  int              // 1..100; stores treat <= 0 as 20
	Cursor string           // opaque, from JobPage.NextCursor; empty: first page
}

// JobPage is one page of a job list.
type JobPage struct {
	Jobs       []domain.Job
	NextCursor string // empty on the last page
}

// ClaimRequest asks for a lease on a runnable job.
type ClaimRequest struct {
	// JobID claims that job only; empty claims the oldest pending job.
	JobID string
	// Worker names the claimant for logs and diagnostics.
	Worker string
	// Executor, when set, is recorded as the job's executor if it has none
	// yet (a local pool that pulled a job before any hand-off).
	Executor string
	// Lease is how long the claim holds without a heartbeat.
	Lease time.Duration
	// Providers, when set, limits a claim without JobID to jobs of these
	// LLM providers: a worker leaves the jobs it cannot run pending for a
	// worker that can.
	Providers []string
}

// ReserveHandoffs asks for jobs to hand to the executor.
type ReserveHandoffs struct {
	Owner string        // the reserving dispatcher, unique per process
	Hold  time.Duration // how long the reservation holds: longer than a hand-off may take
	Limit int           // at most this many jobs; <= 0: 100 (the store's batch)
}

// StaleHandoffs selects hand-offs no worker claimed in time.
type StaleHandoffs struct {
	Owner       string
	OlderThan   time.Duration
	MaxHandoffs int // hand-offs of one attempt before the job fails; < 1 counts as 1
	Hold        time.Duration
	Limit       int // at most this many jobs a pass; <= 0: 100
}

// Redispatch is the outcome of one pass over stale hand-offs.
type Redispatch struct {
	Again  []domain.Job // to hand off again, after canceling the old call (ExecutorRef)
	Failed []domain.Job // out of hand-offs, now failed
}

// Rescue is the outcome of one pass over jobs whose lease expired.
type Rescue struct {
	Requeued []domain.Job // back to pending for another attempt
	Failed   []domain.Job // out of attempts, now failed
}

// WorkerStore is the part of the store a worker needs: read its job, claim
// it, keep and use the lease, and end the attempt. The SQL stores satisfy it
// directly; the worker API's client satisfies it over HTTP, so a worker
// needs no database credentials.
//
// All times are set by the store from its clock. Jobs returned carry Done
// (the number of completed sections).
type WorkerStore interface {
	// Get returns the job, or domain.ErrNotFound.
	Get(ctx context.Context, id string) (domain.Job, error)

	// Claim moves a runnable job to processing with Attempt+1 and a lease
	// expiring after req.Lease, and returns it. A pending job is runnable.
	// With req.JobID set: domain.ErrNotFound if there is no such job,
	// domain.ErrLeaseHeld if it is processing under a live lease (a job
	// whose lease expired is claimable), domain.ErrConflict if it is in a
	// terminal status. Without req.JobID: domain.ErrNoJob when nothing is
	// pending. Concurrent claims never hand the same attempt to two callers.
	Claim(ctx context.Context, req ClaimRequest) (domain.Job, error)

	// Heartbeat extends the lease by d from now. domain.ErrLeaseLost if the
	// job is no longer processing under this lease.
	Heartbeat(ctx context.Context, l Lease, d time.Duration) error

	// SaveSection upserts one section result under the lease and, in the
	// same write, more: the sections the worker starts as it saves s
	// (running), and others that ended at the same moment
	// (domain.CheckSave); each with its event, in that order. A worker
	// hands a finished section's place to the next this way, so a start
	// costs no write of its own, and saves of one job that meet are one
	// write. domain.ErrLeaseLost as for Heartbeat.
	SaveSection(ctx context.Context, l Lease, s domain.SectionResult, more ...domain.SectionResult) error

	// Sections returns the saved section results of a job in report order
	// (possibly fewer than the job's sections). domain.ErrNotFound if the
	// job does not exist.
	Sections(ctx context.Context, jobID string) ([]domain.SectionResult, error)

	// Finish moves the job from processing to completed or failed with
	// errMsg, and returns it. domain.ErrLeaseLost as for Heartbeat.
	Finish(ctx context.Context, l Lease, status domain.JobStatus, errMsg string) (domain.Job, error)

	// Release gives the job back: processing -> pending, keeping its
	// attempt count and saved sections. domain.ErrLeaseLost as for Heartbeat.
	Release(ctx context.Context, l Lease, reason string) error

	// ReusableSection returns the most recently saved section with key
	// q.Key of another job of q.JobID's jurisdiction (the identity its
	// saved jurisdiction section gives, domain.Jurisdiction.Identity),
	// provider and project (the same, or none on both) that
	// domain.CheckReuse allows for q, and the job that saved it. It reads only. domain.ErrNotFound when there is none, when the
	// job's jurisdiction is not known, or there is no such job.
	ReusableSection(ctx context.Context, q ReuseQuery) (Reusable, error)
}

// JobStore persists jobs and their section results: the worker's part and
// everything the API, the dispatcher and the rescuer need.
type JobStore interface {
	WorkerStore

	// Create inserts job (status pending). job.ID, Sections, Address and
	// Provider must be set. When job.IdempotencyKey is not empty and a job
	// with that key exists, Create returns the existing job and
	// existed=true; if its RequestHash differs it returns
	// domain.ErrIdempotencyMismatch instead. Two concurrent calls with the
	// same key never create two jobs.
	Create(ctx context.Context, job domain.Job) (saved domain.Job, existed bool, err error)

	// List returns jobs newest first. An unparseable cursor is
	// domain.ErrInvalid.
	List(ctx context.Context, f ListFilter) (JobPage, error)

	// Cancel moves a pending or processing job to canceled and returns it.
	// In the same transaction its unfinished sections (pending, running, or
	// never started) become canceled; completed and failed ones stay. The
	// canceled attempt's lease is lost: its worker's later writes are
	// refused. domain.ErrNotFound, or domain.ErrConflict from a terminal
	// status.
	Cancel(ctx context.Context, id string) (domain.Job, error)

	// Retry moves a failed or canceled job, or a completed one whose cost
	// cap skipped sections, back to pending, resetting its sections that
	// are not completed to pending and keeping completed ones, and returns
	// it; opts.MaxCostUSD, when set, becomes the job's cost cap. The count
	// of attempts against maxAttempts starts again, while the attempt
	// number itself keeps increasing so that old leases stay fenced.
	// domain.ErrNotFound, or domain.ErrConflict unless domain.Job.CheckRetry
	// allows it.
	Retry(ctx context.Context, id string, opts domain.RetryOptions) (domain.Job, error)

	// ReserveHandoffs reserves for r.Owner, until r.Hold from now, up to
	// r.Limit pending jobs, oldest first, that wait for the hand-off of
	// their next attempt (DispatchedAttempt <= Attempt) and that nobody
	// holds a live reservation on, and returns them. While a reservation
	// holds, no caller gets the job again, so however many replicas
	// dispatch, one executor call is made per attempt.
	ReserveHandoffs(ctx context.Context, r ReserveHandoffs) ([]domain.Job, error)

	// MarkDispatched records that attempt (the job's next attempt,
	// job.Attempt+1 as ReserveHandoffs returned it) was handed to executor
	// with reference ref, and ends the reservation. It succeeds while the
	// job is pending before that attempt, or already processing that very
	// attempt (its worker claimed it before the mark landed), and the
	// attempt was not marked yet; otherwise domain.ErrConflict (someone
	// else dispatched it, or it moved on). domain.ErrNotFound for an
	// unknown job.
	MarkDispatched(ctx context.Context, jobID string, attempt int, executor, ref string) error

	// HandoffFailed records why handing the job to the executor failed,
	// for users to see while the job stays pending, and keeps every
	// dispatcher from trying again before retryAt. domain.ErrNotFound for
	// an unknown job.
	HandoffFailed(ctx context.Context, jobID, reason string, retryAt time.Time) error

	// RedispatchStale finds pending jobs handed to an executor more than
	// s.OlderThan ago that no worker claimed since (the execution died
	// before claiming). Those handed off fewer than s.MaxHandoffs times
	// are returned reserved for s.Owner for s.Hold: the caller cancels the
	// old call, then hands the same attempt off again itself. The others
	// fail with an error naming the executor and its last call.
	RedispatchStale(ctx context.Context, s StaleHandoffs) (Redispatch, error)

	// RescueExpired finds processing jobs whose lease expired: those with
	// Attempt < maxAttempts go back to pending, the others become failed
	// with an error saying the attempts ran out.
	RescueExpired(ctx context.Context, maxAttempts int) (Rescue, error)

	// Events returns the job's events with Seq > afterSeq, oldest first, at
	// most limit (<= 0: all). Seq numbers each job's events 1, 2, 3... The
	// store records them in the same transaction as the change they
	// describe: a job event on every status, progress, attempt or error
	// change (create, claim, section completed, finish, release, cancel,
	// retry, rescue) and a section event for every section saved as
	// running, completed or failed, or closed when its job ended (canceled,
	// or failed while running). domain.ErrNotFound for an unknown job.
	Events(ctx context.Context, jobID string, afterSeq int64, limit int) ([]domain.Event, error)

	// Ping checks the store is reachable.
	Ping(ctx context.Context) error
}

// Changes delivers change notifications so that waiters need not poll.
type Changes interface {
	// Watch returns a channel that receives a value (coalesced, never
	// blocking the sender) whenever the job changes; with jobID "" on any
	// job change, including new jobs. Notifications carry no state:
	// receivers re-read from the store. The channel is closed when ctx is
	// done. A notification may also arrive spuriously, e.g. after a lost
	// connection was re-established.
	Watch(ctx context.Context, jobID string) (<-chan struct{}, error)
	// WatchState is Watch for changes to the job's state only: its
	// creation, claim, hand-off, cancel, retry or end, not its progress (a
	// section of the running attempt started or saved). A job saves a dozen
	// times; a waiter that acts only on its state (a dispatcher, an
	// executor looking for work, the keeper of a lease) need not wake for
	// each save.
	WatchState(ctx context.Context, jobID string) (<-chan struct{}, error)
}
