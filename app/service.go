package app

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// SubmitRequest is what a client asks for.
type SubmitRequest struct {
	Address    string
	Provider   string   // "" = default provider
	Sections   []string // empty = all
	WebhookURL string
	// Reuse says whether the job may reuse jurisdiction-wide sections
	// (domain.Job.Reuse); nil takes the service's DefaultReuse.
	Reuse *bool
	// Verify asks for a verification pass over each section's findings
	// (domain.Job.Verify); nil takes the service's DefaultVerify.
	Verify *bool
	// Project is what will be built; nil when the client did not say.
	Project *domain.Project
	// MaxCostUSD caps what the job may spend; nil takes the service's
	// DefaultMaxCostUSD.
	MaxCostUSD     *float64
	IdempotencyKey string
}

// ServiceConfig holds the Service's dependencies.
type ServiceConfig struct {
	Store     ports.JobStore
	Changes   ports.Changes
	Providers *Providers
	// Executor, when set, is asked to cancel a job's execution on Cancel.
	Executor ports.Executor
	// ValidateWebhook checks a webhook URL at submit; nil accepts none
	// (jobs with a webhook_url are refused).
	ValidateWebhook func(ctx context.Context, rawURL string) error
	// DefaultMaxCostUSD is the cost cap of jobs that set none; nil is no
	// cap.
	DefaultMaxCostUSD *float64
	Logger            *slog.Logger
	// DefaultReuse is the reuse of jobs whose request does not say
	// (CODECHECK_REUSE).
	DefaultReuse bool
	// DefaultVerify is the verify of jobs whose request does not say
	// (CODECHECK_VERIFY).
	DefaultVerify bool
	// Hooks.JobDone is called when Cancel ends a job.
	Hooks Hooks
}

// Service is the job use cases: submit, get, list, report, cancel, retry,
// and following a job's events.
type Service struct {
	cfg ServiceConfig
	log *slog.Logger
}

// NewService checks cfg and returns a Service.
func NewService(cfg ServiceConfig) (*Service, error) {
	if cfg.Store == nil || cfg.Changes == nil || cfg.Providers == nil {
		return nil, errors.New("app.NewService: Store, Changes and Providers are required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Service{cfg: cfg, log: log}, nil
}

// Submit validates req and creates a pending job. With an idempotency key
// that was used before with the same request, it returns that job and
// existed=true; with a different request, domain.ErrIdempotencyMismatch.
// Validation failures are *domain.ValidationError.
func (s *Service) Submit(ctx context.Context, req SubmitRequest) (job domain.Job, existed bool, err error) {
	job, err = s.newJob(ctx, req)
	if err != nil {
		return domain.Job{}, false, err
	}
	saved, existed, err := s.cfg.Store.Create(ctx, job)
	if err != nil {
		return domain.Job{}, false, err
	}
	if !existed {
		s.log.Info("job submitted", "job_id", saved.ID, "provider", saved.Provider, "sections", len(saved.Sections))
	}
	return saved, existed, nil
}

func (s *Service) newJob(ctx context.Context, req SubmitRequest) (domain.Job, error) {
	address, err := domain.NormalizeAddress(req.Address)
	if err != nil {
		return domain.Job{}, err
	}
	llm, err := s.cfg.Providers.Resolve(req.Provider)
	if err != nil {
		return domain.Job{}, err
	}
	sections, err := domain.NormalizeSections(req.Sections)
	if err != nil {
		return domain.Job{}, err
	}
	project, err := domain.NormalizeProject(req.Project)
	if err != nil {
		return domain.Job{}, err
	}
	if err := domain.CheckMaxCost("max_cost_usd", req.MaxCostUSD); err != nil {
		return domain.Job{}, err
	}
	if req.WebhookURL != "" {
		if s.cfg.ValidateWebhook == nil {
			return domain.Job{}, domain.Invalid("webhook_url", "webhooks are not enabled on this server")
		}
		if err := s.cfg.ValidateWebhook(ctx, req.WebhookURL); err != nil {
			return domain.Job{}, err
		}
	}
	if len(req.IdempotencyKey) > 255 {
		return domain.Job{}, domain.Invalid("Idempotency-Key", "must be at most 255 characters")
	}
	id, err := uuid.NewV7()
	if err != nil {
		return domain.Job{}, fmt.Errorf("new job id: %w", err)
	}
	job := domain.Job{ID: id.String(), Address: address, Provider: llm.Name(), Status: domain.JobPending,
		Sections: sections, WebhookURL: req.WebhookURL, Project: project, IdempotencyKey: req.IdempotencyKey,
		MaxCostUSD: cmp.Or(req.MaxCostUSD, s.cfg.DefaultMaxCostUSD)}
	job.RequestHash = requestHash(req)
	s.applyReuse(&job, req)
	s.applyVerify(&job, req)
	return job, nil
}

// requestHash fingerprints the request as the client sent it, so that a
// reused idempotency key with a different body is detected.
func requestHash(req SubmitRequest) string {
	b, _ := json.Marshal([]any{req.Address, req.Provider, req.Sections, req.WebhookURL, req.Project})
	if req.MaxCostUSD != nil {
		// Mixed in only when set, so that keys stored before the cap
		// existed still replay.
		b = fmt.Appendf(b, "|max_cost_usd=%g", *req.MaxCostUSD)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Get returns the job and its saved section results. domain.ErrNotFound for
// an unknown job.
func (s *Service) Get(ctx context.Context, id string) (domain.Report, error) {
	job, err := s.cfg.Store.Get(ctx, id)
	if err != nil {
		return domain.Report{}, err
	}
	saved, err := s.cfg.Store.Sections(ctx, id)
	if err != nil {
		return domain.Report{}, err
	}
	return domain.NewReport(job, saved), nil
}

// List returns a page of jobs, newest first.
func (s *Service) List(ctx context.Context, f ports.ListFilter) (ports.JobPage, error) {
	if f.Status != "" && !f.Status.Valid() {
		return ports.JobPage{}, domain.Invalid("status", fmt.Sprintf("unknown status %q", f.Status))
	}
	if f.Limit < 0 || f.Limit > 100 {
		return ports.JobPage{}, domain.Invalid("limit", "must be between 1 and 100")
	}
	return s.cfg.Store.List(ctx, f)
}

// Cancel cancels a pending or processing job and asks the executor to stop
// it. domain.ErrNotFound, or domain.ErrConflict for a finished job.
func (s *Service) Cancel(ctx context.Context, id string) (domain.Job, error) {
	job, err := s.cfg.Store.Cancel(ctx, id)
	if err != nil {
		return domain.Job{}, err
	}
	s.log.Info("job canceled", "job_id", id, "attempt", job.Attempt)
	if s.cfg.Hooks.JobDone != nil {
		s.cfg.Hooks.JobDone(ctx, job)
	}
	if s.cfg.Executor != nil {
		if err := s.cfg.Executor.Cancel(ctx, job); err != nil {
			// The job is canceled in the store either way: its worker sees
			// that through the change feed or its next fenced write.
			s.log.Warn("executor cancel failed", "job_id", id, "executor", job.Executor, "err", err)
		}
	}
	return job, nil
}

// Retry puts a failed job back to pending; only sections that are not
// completed run again; opts.MaxCostUSD, when set, replaces the cost cap.
// domain.ErrNotFound, a *domain.ValidationError, or domain.ErrConflict
// unless the job failed, was canceled, or completed cut short by its cap.
func (s *Service) Retry(ctx context.Context, id string, opts domain.RetryOptions) (domain.Job, error) {
	if err := domain.CheckMaxCost("max_cost_usd", opts.MaxCostUSD); err != nil {
		return domain.Job{}, err
	}
	job, err := s.cfg.Store.Retry(ctx, id, opts)
	if err == nil {
		s.log.Info("job retried", "job_id", id)
	}
	return job, err
}

// Events returns the job's events after seq (see ports.JobStore.Events).
func (s *Service) Events(ctx context.Context, id string, afterSeq int64) ([]domain.Event, error) {
	return s.cfg.Store.Events(ctx, id, afterSeq, 0)
}

// Watch notifies of changes to the job (see ports.Changes.Watch).
func (s *Service) Watch(ctx context.Context, id string) (<-chan struct{}, error) {
	return s.cfg.Changes.Watch(ctx, id)
}

// Ping checks the store.
func (s *Service) Ping(ctx context.Context) error { return s.cfg.Store.Ping(ctx) }
