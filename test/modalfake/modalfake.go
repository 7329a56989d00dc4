// Package modalfake is an in-process fake of Modal's control plane for
// tests: a gRPC server on 127.0.0.1 that speaks enough of the protocol of
// github.com/modal-labs/modal-client/go (the pinned v0.11.1) for the real
// SDK to look up a deployed function, spawn calls on it, read their outputs
// and cancel them.
//
// A spawned call runs Options.OnSpawn in its own goroutine; that is how a
// test makes a spawn actually run a job. The fake records spawns, cancels
// and RPC counts, and injects faults (failing RPCs, rejected credentials).
//
// It is not Modal: it runs no containers, knows nothing of images, secrets
// or timeouts, and implements only the RPCs listed in server.go. Anything
// else the SDK calls fails with codes.Unimplemented, which is loud on
// purpose.
package modalfake

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/modal-labs/modal-client/go/proto/modal_proto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

// Default credentials the fake accepts when Options leaves them empty.
const (
	DefaultTokenID     = "ak-modalfake"
	DefaultTokenSecret = "as-modalfake"
)

// Options configure a fake control plane.
type Options struct {
	// OnSpawn runs once per spawned call, in its own goroutine. ctx is
	// canceled when FunctionCallCancel arrives for the call or the server
	// stops. A nil error makes the call succeed (its output is None); an
	// error makes it fail with the error's text as the exception. Nil
	// OnSpawn: calls succeed at once.
	OnSpawn func(ctx context.Context, callID string, args []any) error

	// TokenID and TokenSecret are the credentials the fake accepts and
	// Start exports as MODAL_TOKEN_ID / MODAL_TOKEN_SECRET. Defaults:
	// DefaultTokenID, DefaultTokenSecret.
	TokenID, TokenSecret string

	// Latency delays every RPC's answer, as a remote control plane would;
	// for benchmarks. Zero: none.
	Latency time.Duration
}

// Spawn is one spawned function call as the fake received it.
type Spawn struct {
	CallID     string
	FunctionID string
	App        string
	Function   string
	// Args and Kwargs are the decoded CBOR [args, kwargs] the SDK sent.
	Args   []any
	Kwargs map[string]any
}

// Server is a running fake control plane.
type Server struct {
	opts    Options
	url     string
	environ []string
	grpc    *grpc.Server

	// base is canceled when the server stops; every call's context derives
	// from it.
	base    context.Context
	stop    context.CancelFunc
	running sync.WaitGroup

	mu         sync.Mutex
	stopped    bool
	seq        int
	functions  map[string]*function // by id
	deployed   map[deployKey]string // -> function id
	calls      map[string]*call     // by call id
	spawns     []Spawn
	cancels    []string
	counts     map[string]int
	faults     map[string]fault
	rejectAuth bool
	authToken  string
}

type deployKey struct{ env, app, fn string }

type function struct {
	id, appID string
	key       deployKey
}

type fault struct {
	n    int
	code codes.Code
}

// Start serves a fake control plane on 127.0.0.1 and points the Modal SDK
// at it for the rest of the test: it sets MODAL_SERVER_URL,
// MODAL_TOKEN_ID and MODAL_TOKEN_SECRET, and clears every other variable
// the SDK reads (profile, environment, OAuth) and points MODAL_CONFIG_PATH
// and HOME into a temporary directory, so neither real credentials nor
// ~/.modal.toml are ever read. Because it uses t.Setenv, tests that call
// Start cannot run in parallel. The server stops, and every OnSpawn
// goroutine has returned, when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.TokenID == "" {
		opts.TokenID = DefaultTokenID
	}
	if opts.TokenSecret == "" {
		opts.TokenSecret = DefaultTokenSecret
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("modalfake: listen: %v", err)
	}
	base, stop := context.WithCancel(context.Background())
	s := &Server{
		opts:      opts,
		url:       "http://" + lis.Addr().String(),
		base:      base,
		stop:      stop,
		functions: map[string]*function{},
		deployed:  map[deployKey]string{},
		calls:     map[string]*call{},
		counts:    map[string]int{},
		faults:    map[string]fault{},
		authToken: fakeJWT(),
	}
	s.environ = s.sdkEnviron(t.TempDir())
	for _, kv := range s.environ {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	s.grpc = grpc.NewServer(grpc.ChainUnaryInterceptor(s.intercept))
	pb.RegisterModalClientServer(s.grpc, &service{s: s})
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = s.grpc.Serve(lis)
	}()
	t.Cleanup(func() {
		s.mu.Lock()
		s.stopped = true // no spawn starts after this, so running.Wait is safe
		s.mu.Unlock()
		s.stop()
		s.grpc.Stop()
		<-served
		s.running.Wait()
	})
	return s
}

// sdkEnviron lists every variable the SDK reads from the environment, set
// to the fake's values or emptied (the SDK treats empty as unset).
func (s *Server) sdkEnviron(dir string) []string {
	return []string{
		"MODAL_SERVER_URL=" + s.url,
		"MODAL_TOKEN_ID=" + s.opts.TokenID,
		"MODAL_TOKEN_SECRET=" + s.opts.TokenSecret,
		"MODAL_CONFIG_PATH=" + filepath.Join(dir, "modal.toml"), // does not exist: empty config
		"HOME=" + dir,
		"MODAL_PROFILE=",
		"MODAL_ENVIRONMENT=",
		"MODAL_OAUTH_REFRESH_TOKEN=",
		"MODAL_OAUTH_CLIENT_ID=",
		"MODAL_OAUTH_CLIENT_SECRET=",
		"MODAL_OAUTH_JWT_KEY=",
		"MODAL_IMAGE_BUILDER_VERSION=",
		"MODAL_LOGLEVEL=",
		"MODAL_MAX_THROTTLE_WAIT=",
	}
}

// URL is the server's address as MODAL_SERVER_URL wants it:
// "http://127.0.0.1:PORT" (plain-text gRPC).
func (s *Server) URL() string { return s.url }

// Environ returns the KEY=VALUE pairs Start set, for a child process (e.g.
// a codecheck binary under test) that must reach this fake: append them to
// its environment after os.Environ().
func (s *Server) Environ() []string { return append([]string(nil), s.environ...) }

// Deploy makes fn of app available in the default environment and returns
// its function id. Deploying what is already deployed keeps its id;
// deploying again after Undeploy gives a new one, as a redeploy would.
func (s *Server) Deploy(app, fn string) string { return s.DeployIn("", app, fn) }

// DeployIn is Deploy in a named Modal environment. Lookups match the
// environment name exactly ("" is the default environment).
func (s *Server) DeployIn(env, app, fn string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := deployKey{env, app, fn}
	if id, ok := s.deployed[key]; ok {
		return id
	}
	s.seq++
	f := &function{id: fmt.Sprintf("fu-fake%04d", s.seq), appID: fmt.Sprintf("ap-fake%04d", s.seq), key: key}
	s.functions[f.id] = f
	s.deployed[key] = f.id
	return f.id
}

// Undeploy removes fn of app from the default environment: lookups and
// spawns on its old function id then fail with NotFound.
func (s *Server) Undeploy(app, fn string) { s.UndeployIn("", app, fn) }

// UndeployIn is Undeploy in a named Modal environment.
func (s *Server) UndeployIn(env, app, fn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := deployKey{env, app, fn}
	delete(s.functions, s.deployed[key])
	delete(s.deployed, key)
}

// Spawns returns the spawned calls in the order they arrived.
func (s *Server) Spawns() []Spawn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Spawn(nil), s.spawns...)
}

// Cancels returns the call ids of every FunctionCallCancel received, in
// order, including ids the fake did not know.
func (s *Server) Cancels() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cancels...)
}

// Calls reports how many times the RPC (e.g. "FunctionGet") arrived,
// including attempts that failed.
func (s *Server) Calls(rpc string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[rpc]
}

// RPCs lists the RPC names received so far, sorted.
func (s *Server) RPCs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.counts))
	for k := range s.counts {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// FailNext makes the next n arrivals of rpc (e.g. "FunctionMap") fail with
// code. Note that the SDK itself retries Unavailable, Internal, Unknown,
// DeadlineExceeded and Canceled three times (four attempts) before it
// gives up, so n must be at least 4 for such a failure to reach the caller.
func (s *Server) FailNext(rpc string, n int, code codes.Code) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[rpc] = fault{n: n, code: code}
}

// RejectAuth makes every RPC, AuthTokenGet included, fail with
// Unauthenticated, as Modal does for revoked or wrong tokens.
func (s *Server) RejectAuth(reject bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectAuth = reject
}
