package main

import (
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
)

func TestReuseSettings(t *testing.T) {
	c, err := loadConfig(envOf(nil))
	require.NoError(t, err)
	require.True(t, c.Reuse, "jobs reuse unless they say otherwise")
	require.Equal(t, 30*24*time.Hour, c.ReuseTTL)

	for v, want := range map[string]time.Duration{"0": 0, "7d": 7 * 24 * time.Hour, "72h": 72 * time.Hour, "90m": 90 * time.Minute} {
		c, err := loadConfig(envOf(map[string]string{"CODECHECK_REUSE_TTL": v, "CODECHECK_REUSE": "0"}))
		require.NoError(t, err, v)
		require.Equal(t, want, c.ReuseTTL, v)
		require.False(t, c.Reuse)
	}
	for _, bad := range []string{"-1h", "soon", "0d", "d"} {
		_, err := loadConfig(envOf(map[string]string{"CODECHECK_REUSE_TTL": bad}))
		require.ErrorContains(t, err, "CODECHECK_REUSE_TTL", bad)
	}
	_, err = loadConfig(envOf(map[string]string{"CODECHECK_REUSE": "maybe"}))
	require.ErrorContains(t, err, "CODECHECK_REUSE")
}

func TestReuseFlag(t *testing.T) {
	fs := pflag.NewFlagSet("check", pflag.ContinueOnError)
	reuse := reuseFlag(fs)
	require.NoError(t, fs.Parse(nil))
	require.Nil(t, reuse(), "unset: CODECHECK_REUSE decides")
	require.NoError(t, fs.Parse([]string{"--reuse=false"}))
	require.NotNil(t, reuse())
	require.False(t, *reuse())
	require.NoError(t, fs.Parse([]string{"--reuse"}))
	require.True(t, *reuse())
}
