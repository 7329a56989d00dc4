package main

import (
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
)

func TestVerifySetting(t *testing.T) {
	c, err := loadConfig(envOf(nil))
	require.NoError(t, err)
	require.False(t, c.Verify, "no verification unless asked for")
	c, err = loadConfig(envOf(map[string]string{"CODECHECK_VERIFY": "1"}))
	require.NoError(t, err)
	require.True(t, c.Verify)
	_, err = loadConfig(envOf(map[string]string{"CODECHECK_VERIFY": "maybe"}))
	require.ErrorContains(t, err, "CODECHECK_VERIFY")
}

func TestVerifyFlag(t *testing.T) {
	fs := pflag.NewFlagSet("check", pflag.ContinueOnError)
	verify := verifyFlag(fs)
	require.NoError(t, fs.Parse(nil))
	require.Nil(t, verify(), "unset: CODECHECK_VERIFY decides")
	require.NoError(t, fs.Parse([]string{"--verify"}))
	require.NotNil(t, verify())
	require.True(t, *verify())
}
