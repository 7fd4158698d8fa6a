package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckAcceptsTheCommittedSpec(t *testing.T) {
	var out, errw bytes.Buffer
	err := run(context.Background(), []string{"check", "../../../thresholds/slo.yaml"}, &out, &errw)
	require.NoError(t, err, errw.String())
	assert.Contains(t, out.String(), "slo.yaml: ok:")
}

func TestCheckReportsEveryErrorWithItsPlace(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("version: 1\nload:\n  stages: []\nslos:\n  - name: x\n    metric: latency\n    quantile: 0.95\n    max: -5ms\n"), 0o644))
	var out, errw bytes.Buffer
	err := run(context.Background(), []string{"check", bad}, &out, &errw)
	require.ErrorIs(t, err, errReported)
	assert.Contains(t, errw.String(), bad+":3:")
	assert.Contains(t, errw.String(), bad+":8:")
	assert.Empty(t, out.String())
}

func TestUnknownCommandPrintsUsage(t *testing.T) {
	var out, errw bytes.Buffer
	err := run(context.Background(), []string{"frobnicate"}, &out, &errw)
	require.ErrorIs(t, err, errReported)
	assert.Contains(t, errw.String(), `unknown command "frobnicate"`)
	assert.Contains(t, errw.String(), "usage: perfgate")
}
