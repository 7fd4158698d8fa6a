package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// The composite action's shell steps, run here with bash the way a runner
// runs them: the exit code of `perfgate run` becomes the verdict output and
// the report paths, and the last step fails exactly the verdicts fail-on names.

type action struct {
	Inputs map[string]struct {
		Default string `yaml:"default"`
	} `yaml:"inputs"`
	Runs struct {
		Steps []struct {
			Name string            `yaml:"name"`
			ID   string            `yaml:"id"`
			Env  map[string]string `yaml:"env"`
			Run  string            `yaml:"run"`
		} `yaml:"steps"`
	} `yaml:"runs"`
}

func loadAction(t *testing.T) action {
	t.Helper()
	b, err := os.ReadFile("../../../.github/actions/perfgate/action.yml")
	require.NoError(t, err)
	var a action
	require.NoError(t, yaml.Unmarshal(b, &a))
	for _, s := range a.Runs.Steps {
		assert.NotContains(t, s.Run, "${{", "step %q: expressions go through env, never into the script", s.Name)
	}
	return a
}

func (a action) step(t *testing.T, id string) string {
	for _, s := range a.Runs.Steps {
		if s.ID == id || s.Name == id {
			return s.Run
		}
	}
	t.Fatalf("no step %q", id)
	return ""
}

func bash(t *testing.T, script string, env ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("bash", "-e", "-c", script)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	require.NoError(t, err)
	return string(out), 0
}

func TestActionMapsTheExitCodeToTheVerdict(t *testing.T) {
	a := loadAction(t)
	script := a.step(t, "run")
	for code, want := range map[int]string{0: "pass", 1: "fail", 2: "bad-input", 3: "inconclusive", 4: "error"} {
		t.Run(want, func(t *testing.T) {
			tmp := t.TempDir()
			bin := filepath.Join(tmp, "perfgate-bin", "perfgate")
			require.NoError(t, os.MkdirAll(filepath.Dir(bin), 0o755))
			// A stand-in for the CLI: it records its arguments and exits with code.
			require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\necho \"$@\" > \"$RUNNER_TEMP/args\"\nexit "+strconv.Itoa(code)+"\n"), 0o755))
			out := filepath.Join(tmp, "output")
			log, rc := bash(t, script, "RUNNER_TEMP="+tmp, "GITHUB_OUTPUT="+out, "SPEC=perf/slo.yaml", "DIR=")
			require.Equal(t, 0, rc, "the run step records the verdict and leaves the decision to the last step:\n%s", log)
			got, err := os.ReadFile(out)
			require.NoError(t, err)
			dir := filepath.Join(tmp, "perfgate")
			assert.Contains(t, string(got), "verdict="+want+"\n")
			assert.Contains(t, string(got), "exit-code="+strconv.Itoa(code)+"\n")
			assert.Contains(t, string(got), "report-md="+dir+"/report.md\n")
			assert.Contains(t, string(got), "report-html="+dir+"/report.html\n")
			args, err := os.ReadFile(filepath.Join(tmp, "args"))
			require.NoError(t, err)
			assert.Equal(t, "run -f perf/slo.yaml -report "+dir, strings.TrimSpace(string(args)))
		})
	}
}

func TestActionFailsTheStepOnWhatFailOnNames(t *testing.T) {
	a := loadAction(t)
	script := a.step(t, "Decide the step")
	assert.Equal(t, "not-pass", a.Inputs["fail-on"].Default)
	for _, tt := range []struct {
		failOn, verdict string
		rc              int
	}{
		{"not-pass", "pass", 0}, {"not-pass", "fail", 1}, {"not-pass", "inconclusive", 1}, {"not-pass", "error", 1}, {"not-pass", "bad-input", 1},
		{"fail", "pass", 0}, {"fail", "fail", 1}, {"fail", "inconclusive", 0}, {"fail", "error", 1},
		{"sometimes", "fail", 1}, {"sometimes", "pass", 1},
	} {
		_, rc := bash(t, script, "FAIL_ON="+tt.failOn, "VERDICT="+tt.verdict)
		assert.Equal(t, tt.rc, rc, "fail-on %s, verdict %s", tt.failOn, tt.verdict)
	}
}

func TestActionAnnotatesBadInputWhereItIs(t *testing.T) {
	script := loadAction(t).step(t, "Annotate what did not pass")
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "perfgate.log"), []byte(
		"perfgate: perf/slo.yaml:13:11: slos[2].name: duplicate name \"p95\" (first at line 6)\n"+
			"perf/slo.yaml:3:11: load.warmup: invalid duration \"soon\": use a unit like 500ms, 5s or 1m\n"), 0o600))
	out, rc := bash(t, script, "DIR="+dir, "VERDICT=bad-input")
	require.Equal(t, 0, rc, out)
	assert.Equal(t,
		"::error file=perf/slo.yaml,line=13,col=11,title=perfgate bad input::slos[2].name: duplicate name \"p95\" (first at line 6)\n"+
			"::error file=perf/slo.yaml,line=3,col=11,title=perfgate bad input::load.warmup: invalid duration \"soon\": use a unit like 500ms, 5s or 1m\n", out)
}

func TestActionAnnotatesEachMetricWorseThanTheBaseline(t *testing.T) {
	script := loadAction(t).step(t, "Annotate what did not pass")
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "report.json"), []byte(`{"checks": [],
		"comparison": {"verdict": "fail", "reason": "1 of 2 metrics worse", "rows": [
			{"metric": "allocs_per_request", "status": "worse", "fail": true, "why": "allocs_per_request +32.7% (83.9 → 111, p=0.002) over its +5% budget"},
			{"metric": "p95_latency", "status": "same", "fail": false, "why": "within"}]}}`), 0o600))
	out, rc := bash(t, script, "DIR="+dir, "VERDICT=fail")
	require.Equal(t, 0, rc, out)
	assert.Equal(t, "::error title=baseline allocs_per_request::worse: allocs_per_request +32.7%25 (83.9 → 111, p=0.002) over its +5%25 budget\n", out)
}

// The annotations read report.json as the report package writes it: the
// goldens of a breached budget and of breached SLOs, not a hand-written copy.
func TestActionAnnotatesBreachesInTheReportAsWritten(t *testing.T) {
	script := loadAction(t).step(t, "Annotate what did not pass")
	annotate := func(golden string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("..", "..", "internal", "report", "testdata", golden))
		require.NoError(t, err)
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "report.json"), b, 0o600))
		out, rc := bash(t, script, "DIR="+dir, "VERDICT=fail")
		require.Equal(t, 0, rc, out)
		return out
	}

	assert.Equal(t, "::error title=baseline p95_latency::worse: p95_latency +20%25 (20.1ms → 24.1ms, p=0.031) over its +10%25 budget\n",
		annotate("compare_fail.json.golden"), "the breached budget, and nothing for the SLOs that were met")

	slos := annotate("fail.json.golden")
	assert.Contains(t, slos, "::error title=SLO p95_latency::fail: p95_latency 73.2ms > 50ms (+46%25) (observed 0.0732, limit <= 0.05 s)\n")
	assert.NotContains(t, slos, "title=baseline", "no comparison, no baseline annotation")
}
