package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/store/internal/driver"
)

// writePages commits n rows of a page's size each, one commit each.
func writePages(t *testing.T, e *engine, n int) {
	t.Helper()
	ctx := context.Background()
	_, err := e.Exec(ctx, `CREATE TABLE IF NOT EXISTS filler (body text)`)
	require.NoError(t, err)
	body := strings.Repeat("x", 4096)
	for range n {
		require.NoError(t, e.Write(ctx, func(tx driver.DB) error {
			_, err := tx.Exec(ctx, `INSERT INTO filler (body) VALUES ($1)`, body)
			return err
		}))
	}
}

// TestCommitsLeaveCheckpointsToTheCheckpointer commits well past SQLite's
// automatic checkpoint (1,000 pages) with no checkpointer running: the log
// keeps every frame, so no commit stopped to copy it into the database
// file and fsync it, which made POST /jobs's p99 on SQLite. Then one
// checkpoint copies them all.
func TestCommitsLeaveCheckpointsToTheCheckpointer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	writer, err := openPool(path, writerConn)
	require.NoError(t, err)
	writer.SetMaxOpenConns(1)
	reader, err := openPool(path, readerConn)
	require.NoError(t, err)
	e := newEngine(writer, reader, nil)
	t.Cleanup(func() { require.NoError(t, e.Close()) })

	writePages(t, e, 1500)

	cp, err := openPool(path, checkpointConn)
	require.NoError(t, err)
	c := &checkpointer{db: cp}
	t.Cleanup(func() { require.NoError(t, cp.Close()) })
	frames, err := c.checkpoint(context.Background())
	require.NoError(t, err)
	require.Greater(t, frames[0], 3000, "the log was checkpointed by a commit: %v", frames)
	require.Equal(t, frames[0], frames[1], "one PASSIVE checkpoint copies the whole log when no reader holds it")
}

// TestCheckpointerCopiesTheLogAfterCommits opens the engine as Open does
// and waits for its checkpointer to copy the log of a burst of commits
// back into the database file, which grows by their pages then (the
// commits only append to the log).
func TestCheckpointerCopiesTheLogAfterCommits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	e, err := openEngine(path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, e.Close()) })

	const pages = 200
	writePages(t, e, pages)

	assert.Eventually(t, func() bool {
		info, err := os.Stat(path)
		return err == nil && info.Size() > pages*4096
	}, 10*time.Second, 10*time.Millisecond, "the checkpointer did not copy the log into the database file")
}

// TestCloseTwice closes the store twice, as a test that makes the store
// unreachable and then cleans up does: the second close is no panic.
func TestCloseTwice(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "db.sqlite"))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NotPanics(t, func() { _ = s.Close() })
}
