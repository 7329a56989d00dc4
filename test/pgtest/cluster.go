package pgtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a Postgres server of the test's own: initdb'd under
// t.TempDir(), listening on a free port of 127.0.0.1 only, stopped when the
// test ends. A test that stops, restarts or otherwise hurts the server needs
// one, so that it never touches the shared server other tests use.
type Cluster struct {
	t       testing.TB
	bin     string // directory of initdb, pg_ctl, postgres
	data    string
	logPath string
	port    string
	cred    *syscall.Credential // who runs the server: postgres when the test runs as root
	// URL is the cluster's postgres database, superuser postgres, no password.
	URL string
}

// NewCluster initdb's and starts a private cluster. Without initdb (looked
// for in /usr/lib/postgresql/*/bin, then PATH) the test is skipped with a
// loud message, except under CI=true, where it fails.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := postgresBin(t)
	dir := t.TempDir()
	c := &Cluster{t: t, bin: bin, data: filepath.Join(dir, "data"), logPath: filepath.Join(dir, "postgres.log")}
	c.cred = serverUser(t, dir)
	c.port = freePort(t)
	c.URL = "postgres://postgres@127.0.0.1:" + c.port + "/postgres?sslmode=disable"
	c.exec(2*time.Minute, filepath.Join(bin, "initdb"), "-D", c.data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--no-sync", "--no-instructions")
	t.Cleanup(func() {
		_, _ = c.cmd(time.Minute, filepath.Join(c.bin, "pg_ctl"), "-D", c.data, "-m", "immediate", "-w", "stop")
		if t.Failed() {
			b, _ := os.ReadFile(c.logPath)
			t.Logf("---- private Postgres log ----\n%s", b)
		}
	})
	c.Start()
	return c
}

// Start starts the server and waits until it accepts connections.
func (c *Cluster) Start() {
	c.t.Helper()
	opts := fmt.Sprintf("-p %s -c listen_addresses=127.0.0.1 -k %s -c fsync=off -c max_connections=200", c.port, filepath.Dir(c.data))
	c.exec(2*time.Minute, filepath.Join(c.bin, "pg_ctl"), "-D", c.data, "-l", c.logPath, "-o", opts, "-w", "-t", "90", "start")
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := pgx.Connect(ctx, c.URL)
		cancel()
		if err == nil {
			_ = conn.Close(context.Background())
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("pgtest: private Postgres on port %s not reachable after start: %v", c.port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server in pg_ctl's fast mode: open transactions are rolled
// back and every connection is closed, as in a restart or failover.
func (c *Cluster) Stop() {
	c.t.Helper()
	c.exec(2*time.Minute, filepath.Join(c.bin, "pg_ctl"), "-D", c.data, "-m", "fast", "-w", "-t", "90", "stop")
}

// Port is the port the server listens on.
func (c *Cluster) Port() string { return c.port }

func (c *Cluster) exec(timeout time.Duration, name string, args ...string) {
	c.t.Helper()
	if out, err := c.cmd(timeout, name, args...); err != nil {
		log, _ := os.ReadFile(c.logPath)
		c.t.Fatalf("pgtest: %s %v: %v\n%s\n%s", filepath.Base(name), args, err, out, log)
	}
}

func (c *Cluster) cmd(timeout time.Duration, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C", "HOME=" + filepath.Dir(c.data)}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// postgresBin finds the newest installed server's binaries.
func postgresBin(t testing.TB) string {
	t.Helper()
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(found, func(i, j int) bool { return version(found[i]) > version(found[j]) })
	if len(found) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			found = append(found, p)
		}
	}
	if len(found) == 0 {
		msg := "\n\n*** INITDB NOT FOUND in /usr/lib/postgresql/*/bin or PATH" +
			"\n*** Tests that need a private Postgres server did NOT run. Install the Postgres server package.\n"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return filepath.Dir(found[0])
}

func version(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

// serverUser is who runs initdb and the server: the current user, or, as
// root (which initdb refuses), the postgres user, given dir and the way to it.
func serverUser(t testing.TB, dir string) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("pgtest: running as root, and initdb refuses root: need a postgres user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	// t.TempDir's parent is private to root: let the postgres user through.
	if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}
