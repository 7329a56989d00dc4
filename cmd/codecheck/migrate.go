package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/fx"

	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

func checkFormat(f string) error {
	if f != "md" && f != "json" {
		return usagef("--format: must be md or json, got %q", f)
	}
	return nil
}

func runReport(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("report")
	jobID := fs.String("job-id", "", "job id")
	format := fs.String("format", "md", "md or json")
	out := fs.String("out", "", "write the report to this file")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	if *jobID == "" {
		return usagef("report: --job-id is required")
	}
	if err := checkFormat(*format); err != nil {
		return err
	}
	var svc *app.Service
	stop, err := startApp(ctx, env, quickStop, baseModules(reportStore), &svc)
	if err != nil {
		return err
	}
	defer stop()
	report, err := svc.Get(ctx, *jobID)
	if errors.Is(err, domain.ErrNotFound) {
		return fmt.Errorf("job %s not found", *jobID)
	}
	if err != nil {
		return err
	}
	return writeReport(env.stdout, *out, *format, report)
}

// writeReport writes the report to path, or to w when path is empty.
func writeReport(w io.Writer, path, format string, r domain.Report) error {
	if path != "" {
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		defer f.Close()
		w = f
	}
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(jsonReport(r))
	}
	return r.WriteMarkdown(w)
}

// jsonReport is the report as JSON: the job (with its progress) plus a
// sections array with every section result.
func jsonReport(r domain.Report) any {
	type job struct {
		domain.Job
		Progress string `json:"progress"`
	}
	return struct {
		Job          job                    `json:"job"`
		Sections     []domain.SectionResult `json:"sections"`
		Usage        domain.Usage           `json:"usage"`
		ResearchedAt *time.Time             `json:"researched_at,omitempty"`
	}{job{r.Job, r.Job.Progress()}, r.Sections, r.Usage, r.ResearchedAt}
}

func runMigrate(ctx context.Context, env *environment, _ []string) error {
	// Opening the store applies the migrations.
	var store ports.JobStore
	stop, err := startApp(ctx, env, quickStop, []fx.Option{storeModule(migrateStore)}, &store)
	if err != nil {
		return err
	}
	defer stop()
	if err := store.Ping(ctx); err != nil {
		return fmt.Errorf("%s: %w", envDatabaseURL.Name, err)
	}
	su, _ := parseStoreURL(env.cfg.DatabaseURL)
	fmt.Fprintf(env.stdout, "migrations applied to %s\n", redactURL(su.URL))
	return nil
}
