package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/codecheck/codecheck/adapters/apiclient"
	httpapi "github.com/codecheck/codecheck/adapters/http"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
)

// The job commands (list, watch, cancel, retry, report) speak to the public
// API: the server at CODECHECK_API_URL, or the same API served in this
// process over the local store. Either way they get the same documents.

// localBase is the base URL of the in-process API; no request leaves the
// process.
const localBase = "http://codecheck.local"

// localStreamPoll is how often an in-process event stream reads the store
// again: another process's writes to a SQLite file notify nobody here.
const localStreamPoll = 500 * time.Millisecond

// loadJobsAPI reads the configuration, then opens the jobs API as
// openJobsAPI does: the start of every job command.
func loadJobsAPI(ctx context.Context, env *environment, store storeOptions) (*apiclient.Client, func(), error) {
	if err := env.load(true); err != nil {
		return nil, nil, err
	}
	return openJobsAPI(ctx, env, store)
}

// openJobsAPI returns the client of the API the job commands use, and a
// function that releases it: the remote server when CODECHECK_API_URL is
// set, else the API over the store of DATABASE_URL.
func openJobsAPI(ctx context.Context, env *environment, store storeOptions) (*apiclient.Client, func(), error) {
	if env.cfg.APIURL != "" {
		c, err := apiclient.New(env.cfg.APIURL, apiclient.WithAPIKey(env.cfg.APIKey))
		if err != nil {
			return nil, nil, usagef("%s: %v", envAPIURL.Name, err)
		}
		return c, func() {}, nil
	}
	var svc *app.Service
	stop, err := startApp(ctx, env, quickStop, baseModules(store), &svc)
	if err != nil {
		return nil, nil, err
	}
	c, closeAPI, err := localAPI(env, svc)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return c, func() { closeAPI(); stop() }, nil
}

// localAPI serves the public API over svc in this process and returns its
// client.
func localAPI(env *environment, svc *app.Service) (*apiclient.Client, func(), error) {
	srv, err := httpapi.New(httpapi.Config{Service: svc, Logger: env.log, Version: version, KeepAlive: localStreamPoll})
	if err != nil {
		return nil, nil, err
	}
	c, err := apiclient.New(localBase, apiclient.WithHTTPClient(&http.Client{Transport: inProcessTransport{srv.Handler()}}))
	if err != nil {
		return nil, nil, err
	}
	return c, srv.Close, nil
}

// pendingAPI is a localAPI being built on a goroutine of its own, so that
// `check` builds it while the job runs rather than after: it is needed only
// for the report, and building it (every operation's schema) is a few
// milliseconds of a check's start-up.
type pendingAPI struct {
	done    chan struct{}
	client  *apiclient.Client
	closeFn func()
	err     error
}

// buildLocalAPI starts building the local API over svc.
func buildLocalAPI(env *environment, svc *app.Service) *pendingAPI {
	p := &pendingAPI{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.client, p.closeFn, p.err = localAPI(env, svc)
	}()
	return p
}

// wait returns the API's client once it is built.
func (p *pendingAPI) wait() (*apiclient.Client, error) {
	<-p.done
	return p.client, p.err
}

// close waits for the API to be built and closes it.
func (p *pendingAPI) close() {
	<-p.done
	if p.closeFn != nil {
		p.closeFn()
	}
}

// apiError turns a client error into the command's: a server that cannot be
// reached or refuses the key is a configuration matter (exit 2) naming the
// variable; an unknown job says so.
func apiError(env *environment, err error, jobID string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, apiclient.ErrUnreachable):
		return usagef("%s: cannot reach the server: %v", envAPIURL.Name, err)
	case errors.Is(err, domain.ErrUnauthenticated), errors.Is(err, domain.ErrForbidden):
		return usagef("%s: the server at %s refused the key: %v", envAPIKey.Name, redactURL(env.cfg.APIURL), err)
	case errors.Is(err, domain.ErrNotFound) && jobID != "":
		return fmt.Errorf("job %s not found", jobID)
	}
	return err
}

// printReport writes the job's report, as the API gives it, to standard
// output or to the file out (saying so on standard error). JSON is
// indented, otherwise byte for byte the API's document.
func printReport(ctx context.Context, env *environment, api *apiclient.Client, jobID, format, out string) error {
	body, err := api.Report(ctx, jobID, format == "md")
	if err != nil {
		return apiError(env, err, jobID)
	}
	if format == "json" {
		var buf bytes.Buffer
		if err := json.Indent(&buf, body, "", "  "); err == nil {
			body = buf.Bytes()
		}
	}
	if out == "" {
		_, err := env.stdout.Write(body)
		return err
	}
	if err := os.WriteFile(out, body, 0o644); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	fmt.Fprintf(env.stderr, "wrote the report to %s\n", out)
	return nil
}

func checkFormat(f string) error {
	if f != "md" && f != "json" {
		return usagef("--format: must be md or json, got %q", f)
	}
	return nil
}
