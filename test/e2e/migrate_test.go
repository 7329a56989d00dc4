package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/test/pgtest"
)

// Five processes starting at once on an empty database apply the
// migrations exactly once, and all of them succeed.
func TestFiveMigrateProcessesAtOnceMigrateOnce(t *testing.T) {
	url := pgtest.URL(t)
	env := baseEnv(t, "DATABASE_URL="+url)
	cmds := make([]*exec.Cmd, 5)
	for i := range cmds {
		cmds[i] = exec.Command(binary, "migrate")
		cmds[i].Env = env
		require.NoError(t, cmds[i].Start())
	}
	for _, c := range cmds {
		require.NoError(t, c.Wait())
	}
	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var rows, distinct int
	require.NoError(t, conn.QueryRow(context.Background(),
		`SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&rows, &distinct))
	files, err := filepath.Glob("../../adapters/store/internal/core/migrations/*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	require.Equal(t, len(files), rows)
	require.Equal(t, rows, distinct)
}
