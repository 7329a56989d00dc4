// Command river is a reference point for codecheck's job figures: River
// (github.com/riverqueue/river), a Postgres job queue for Go, inserting and
// working -jobs no-op jobs on the database at -database-url. It runs River's
// migrations, inserts the jobs in batches of -batch with InsertMany (no
// client working yet), then starts a client with one queue of -workers
// workers whose Work returns nil at once, and waits for a completion event
// per job. It reports the insert time, the working time (Start to the last
// completion), jobs per second, and Postgres commits per job: the change of
// pg_stat_database.xact_commit for the database, minus this program's own
// measuring statements.
//
// Postgres flushes a backend's statistics at most once a second, and an
// idle backend's only after some seconds, so each phase closes its own
// connection pool and the counter is read once the pool's backends have
// left pg_stat_activity and the counter has stopped moving. The measuring
// connection calls pg_stat_force_next_flush() (PostgreSQL 15+) in every
// statement, so its own commits are counted at once and can be subtracted.
//
// It lives in its own Go module (bench/river/go.mod) so that River never
// becomes a dependency of codecheck. Use a throw-away database: it creates
// River's tables there.
//
//	cd bench/river && go run . -database-url postgres://postgres@127.0.0.1:5432/db?sslmode=disable
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// NoopArgs is the job: no arguments, nothing to do.
type NoopArgs struct{}

func (NoopArgs) Kind() string { return "noop" }

type noopWorker struct {
	river.WorkerDefaults[NoopArgs]
}

func (noopWorker) Work(context.Context, *river.Job[NoopArgs]) error { return nil }

func main() {
	dbURL := flag.String("database-url", os.Getenv("DATABASE_URL"), "Postgres URL of a throw-away database (default $DATABASE_URL)")
	jobs := flag.Int("jobs", 20000, "jobs to insert and work")
	batch := flag.Int("batch", 1000, "jobs per InsertMany call (one transaction each)")
	workers := flag.Int("workers", 100, "MaxWorkers of the queue")
	cooldown := flag.Duration("fetch-cooldown", 0, "River's FetchCooldown, the least time between two fetches of jobs (0: River's default, 100ms)")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	flag.Parse()
	if *dbURL == "" {
		fmt.Fprintln(os.Stderr, "river: -database-url or DATABASE_URL is required")
		os.Exit(2)
	}
	if *jobs < 1 || *batch < 1 || *workers < 1 {
		fmt.Fprintln(os.Stderr, "river: -jobs, -batch and -workers must be at least 1")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, config{url: *dbURL, jobs: *jobs, batch: *batch, workers: *workers, cooldown: *cooldown}); err != nil {
		fmt.Fprintln(os.Stderr, "river:", err)
		os.Exit(1)
	}
}

type config struct {
	url                  string
	jobs, batch, workers int
	cooldown             time.Duration
}

func run(ctx context.Context, cfg config) error {
	m, err := newMeter(ctx, cfg.url)
	if err != nil {
		return err
	}
	defer m.close()
	quiet := slog.New(slog.DiscardHandler)
	workers := river.NewWorkers()
	river.AddWorker(workers, noopWorker{})

	// Migrations, on a pool of their own, not measured.
	err = withPool(ctx, cfg.url, func(pool *pgxpool.Pool) error {
		migrator, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: quiet})
		if err != nil {
			return err
		}
		_, err = migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	c0, err := m.settled(ctx)
	if err != nil {
		return err
	}

	// Insert: a client without queues only inserts.
	var insertTime time.Duration
	err = withPool(ctx, cfg.url, func(pool *pgxpool.Pool) error {
		client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: quiet, Workers: workers})
		if err != nil {
			return err
		}
		if err := pool.Ping(ctx); err != nil { // connect before the clock starts
			return err
		}
		start := time.Now()
		for done := 0; done < cfg.jobs; {
			n := min(cfg.batch, cfg.jobs-done)
			params := make([]river.InsertManyParams, n)
			for i := range params {
				params[i] = river.InsertManyParams{Args: NoopArgs{}}
			}
			if _, err := client.InsertMany(ctx, params); err != nil {
				return err
			}
			done += n
		}
		insertTime = time.Since(start)
		return nil
	})
	if err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	c1, err := m.settled(ctx)
	if err != nil {
		return err
	}

	// Work: start a client and wait for a completion event per job.
	var workTime time.Duration
	err = withPool(ctx, cfg.url, func(pool *pgxpool.Pool) error {
		client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
			Logger:        quiet,
			Workers:       workers,
			FetchCooldown: cfg.cooldown,
			Queues:        map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.workers}},
		})
		if err != nil {
			return err
		}
		// A channel as large as the run, so that no event is dropped.
		events, unsubscribe := client.SubscribeConfig(&river.SubscribeConfig{
			ChanSize: cfg.jobs + 1000,
			Kinds:    []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed},
		})
		defer unsubscribe()
		start := time.Now()
		if err := client.Start(ctx); err != nil {
			return err
		}
		completed := 0
		for completed < cfg.jobs {
			select {
			case ev := <-events:
				if ev.Kind != river.EventKindJobCompleted {
					return fmt.Errorf("job %d: %s", ev.Job.ID, ev.Kind)
				}
				completed++
			case <-ctx.Done():
				return fmt.Errorf("%d of %d jobs completed: %w", completed, cfg.jobs, ctx.Err())
			}
		}
		workTime = time.Since(start)
		stopCtx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		return client.Stop(stopCtx)
	})
	if err != nil {
		return fmt.Errorf("work: %w", err)
	}
	c2, err := m.settled(ctx)
	if err != nil {
		return err
	}

	var n int
	if err := m.conn.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE kind = 'noop' AND state = 'completed'").Scan(&n); err != nil {
		return err
	}
	if n != cfg.jobs {
		return fmt.Errorf("%d of %d jobs are completed in river_job", n, cfg.jobs)
	}

	jobs := float64(cfg.jobs)
	total := insertTime + workTime
	cooldown := cfg.cooldown
	if cooldown == 0 {
		cooldown = river.FetchCooldownDefault
	}
	fmt.Printf("## River %s, %d no-op jobs, InsertMany batches of %d, MaxWorkers %d, FetchCooldown %s, %s\n",
		"v0.51.2", cfg.jobs, cfg.batch, cfg.workers, cooldown, m.version)
	fmt.Println()
	fmt.Println("| phase  | time     | jobs/s  | commits | commits/job |")
	fmt.Println("|--------|----------|---------|---------|-------------|")
	row := func(name string, d time.Duration, commits int64) {
		fmt.Printf("| %-6s | %8s | %7.0f | %7d | %11.3f |\n", name, d.Round(time.Millisecond), jobs/d.Seconds(), commits, float64(commits)/jobs)
	}
	row("insert", insertTime, c1-c0)
	row("work", workTime, c2-c1)
	row("total", total, c2-c0)
	fmt.Printf("\nRESULT jobs=%d insert_s=%.3f work_s=%.3f wall_s=%.3f jobs_per_s=%.0f work_jobs_per_s=%.0f commits_per_job=%.3f insert_commits_per_job=%.3f work_commits_per_job=%.3f\n",
		cfg.jobs, insertTime.Seconds(), workTime.Seconds(), total.Seconds(), jobs/total.Seconds(), jobs/workTime.Seconds(),
		float64(c2-c0)/jobs, float64(c1-c0)/jobs, float64(c2-c1)/jobs)
	return nil
}

// withPool opens a pool, runs f, and closes the pool again: its backends
// exit, which flushes their statistics.
func withPool(ctx context.Context, url string, f func(*pgxpool.Pool) error) error {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	return f(pool)
}

// meter reads the database's commit counter over a connection of its own
// and keeps count of the commits it makes itself.
type meter struct {
	conn    *pgx.Conn
	own     int64 // statements (= commits) of this connection so far
	version string
}

func newMeter(ctx context.Context, url string) (*meter, error) {
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	// One simple-protocol query is one transaction; the extended protocol's
	// prepare would be one more.
	cc.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, err
	}
	m := &meter{conn: conn, own: 1}
	var num int
	if err := conn.QueryRow(ctx, `SELECT current_setting('server_version_num')::int, current_setting('server_version'),
		pg_stat_force_next_flush() IS NULL`).Scan(&num, &m.version, new(bool)); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	if num < 150000 {
		conn.Close(ctx)
		return nil, fmt.Errorf("PostgreSQL %s: pg_stat_force_next_flush needs 15 or later", m.version)
	}
	m.version = "PostgreSQL " + m.version
	return m, nil
}

func (m *meter) close() { _ = m.conn.Close(context.Background()) }

// others is the number of other backends connected to this database.
func (m *meter) others(ctx context.Context) (int, error) {
	var n int
	m.own++
	err := m.conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pid <> pg_backend_pid()), pg_stat_force_next_flush() IS NULL
		FROM pg_stat_activity WHERE datname = current_database()`).Scan(&n, new(bool))
	return n, err
}

// commits is xact_commit of this database less this connection's own
// commits before this statement. The statement runs in a transaction of
// its own, so the statistics snapshot is fresh.
func (m *meter) commits(ctx context.Context) (int64, error) {
	var c int64
	own := m.own
	m.own++
	err := m.conn.QueryRow(ctx, `SELECT pg_stat_get_db_xact_commit(oid), pg_stat_force_next_flush() IS NULL
		FROM pg_database WHERE datname = current_database()`).Scan(&c, new(bool))
	return c - own, err
}

// settled waits until no other backend is connected to the database and
// the counter has stopped moving (an exiting backend leaves
// pg_stat_activity a moment before it flushes its statistics), then
// returns the counter.
func (m *meter) settled(ctx context.Context) (int64, error) {
	deadline := time.Now().Add(time.Minute)
	poll := func() error {
		if time.Now().After(deadline) {
			return errors.New("statistics did not settle within a minute")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond): // polling interval
			return nil
		}
	}
	for {
		n, err := m.others(ctx)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			break
		}
		if err := poll(); err != nil {
			return 0, err
		}
	}
	last, err := m.commits(ctx)
	if err != nil {
		return 0, err
	}
	for stable := 0; stable < 3; {
		if err := poll(); err != nil {
			return 0, err
		}
		c, err := m.commits(ctx)
		if err != nil {
			return 0, err
		}
		if c == last {
			stable++
		} else {
			stable, last = 0, c
		}
	}
	return last, nil
}
