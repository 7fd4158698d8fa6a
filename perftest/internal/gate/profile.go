package gate

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"

	"github.com/perfgate/perfgate/perftest/internal/compare"
	"github.com/perfgate/perfgate/perftest/internal/profdiff"
	"github.com/perfgate/perfgate/perftest/internal/report"
	"github.com/perfgate/perfgate/perftest/internal/stack"
	"github.com/perfgate/perfgate/thresholds"
)

// ProfiledPairs is how many extra pairs of rounds run with profiling on
// after a comparison found a metric worse: profdiff's noise rule needs 3.
const ProfiledPairs = 3

// ProfileWhen says when a comparison runs its profiled pairs.
type ProfileWhen string

// When profiled pairs run. Profiling always costs a green comparison the
// pairs' time (about 30 s at the committed round), and puts on record that
// the diff of builds that read the same names nothing.
// "" is not set, and means ProfileWorse: a flag set to worse keeps its
// variable from overriding it.
const (
	ProfileWorse  ProfileWhen = "worse"  // after a comparison that found a metric worse
	ProfileAlways ProfileWhen = "always" // after every comparison
	ProfileNever  ProfileWhen = "never"  // never
)

// Set parses a flag or variable's value: worse, always or never.
func (p *ProfileWhen) Set(v string) error {
	switch ProfileWhen(v) {
	case "", ProfileWorse, ProfileAlways, ProfileNever:
		*p = ProfileWhen(v)
		return nil
	}
	return fmt.Errorf("profile %q: say worse (the default: after a metric reads worse), always or never", v)
}

func (p *ProfileWhen) String() string {
	if p == nil || *p == "" {
		return "worse"
	}
	return string(*p)
}

// maxProfile bounds a profile read from a replica, compressed and not.
const maxProfile = 64 << 20

// measureOf is the profile that tells why a compared metric grew.
var measureOf = map[string]profdiff.Measure{
	thresholds.CompareAllocs:        profdiff.AllocObjects,
	thresholds.CompareAllocBytes:    profdiff.AllocSpace,
	thresholds.CompareGCPerRequest:  profdiff.AllocSpace,
	thresholds.CompareCPUPerRequest: profdiff.CPU,
	thresholds.CompareP50:           profdiff.CPU,
	thresholds.CompareP95:           profdiff.CPU,
	thresholds.CompareP99:           profdiff.CPU,
	thresholds.CompareThroughput:    profdiff.CPU,
	// More queries: which functions' CPU grew with them, the queries' callers.
	thresholds.CompareQueries: profdiff.CPU,
	// What a build keeps: where the live heap a round left behind was
	// allocated, and where the goroutines it left are waiting.
	thresholds.CompareHeapGrowth:      profdiff.InuseSpace,
	thresholds.ComparePeakRSS:         profdiff.InuseSpace,
	thresholds.CompareRSSGrowth:       profdiff.InuseSpace,
	thresholds.CompareGoroutineGrowth: profdiff.Goroutines,
	// Where requests waited, in rounds of bursts like the contention pairs'.
	thresholds.CompareWaitPerRequest: profdiff.Delay,
}

// roundProfiles are one profiled round's profiles of one variant, merged
// over its replicas, by profileName: CPU over the round; the heap's, the
// goroutines' and the block profile's change from its start to its end.
type roundProfiles map[string]*profile.Profile

// fetchProfile reads a profile from url: at most maxProfile bytes.
func fetchProfile(ctx context.Context, client *http.Client, url string) (*profile.Profile, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	p, err := parseProfile(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return p, nil
}

// parseProfile reads a gzip'd or plain pprof profile of at most maxProfile
// bytes either way: profile.Parse alone would inflate any gzip stream whole.
func parseProfile(r io.Reader) (*profile.Profile, error) {
	data, err := readCapped(r)
	if err != nil {
		return nil, err
	}
	if len(data) > 1 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		if data, err = readCapped(zr); err != nil {
			return nil, err
		}
	}
	return profile.ParseUncompressed(data)
}

func readCapped(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxProfile+1))
	if err == nil && len(data) > maxProfile {
		err = fmt.Errorf("profile larger than %d bytes", maxProfile)
	}
	return data, err
}

// delta is what changed between two snapshots of one process's profile:
// end minus start. Of a heap profile, what was allocated in between, and how
// the live heap moved; of a goroutine profile, how many more wait where.
func delta(start, end *profile.Profile) (*profile.Profile, error) {
	start = start.Copy()
	start.Scale(-1)
	d, err := profile.Merge([]*profile.Profile{end, start})
	if err != nil {
		return nil, err
	}
	d.TimeNanos, d.DurationNanos = end.TimeNanos, end.TimeNanos-start.TimeNanos
	return d, nil
}

// profileRound runs one round with profiling on every replica of the
// variant: a CPU profile over the round, and the heap, goroutine and block
// profiles' change. The heap is read after a forced GC (heap?gc=1) at both
// ends, so its live part is what the round left behind, not garbage.
func profileRound(ctx context.Context, replicas []stack.Replica, prefix string, length time.Duration, run func() error) (roundProfiles, error) {
	client := &http.Client{Timeout: length + 30*time.Second,
		// The replica's own address only: a redirect is an answer, not a hop.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := func(r stack.Replica) string { return strings.TrimSuffix(r.URL, "/") + prefix }
	readAll := func(path string) ([]*profile.Profile, error) {
		ps := make([]*profile.Profile, len(replicas))
		for i, r := range replicas {
			p, err := fetchProfile(ctx, client, base(r)+path)
			if err != nil {
				return nil, err
			}
			ps[i] = p
		}
		return ps, nil
	}
	// Snapshots, by profile name, in the order they are read at the start;
	// the end reads them in reverse. The heaps are read nearest the round,
	// inside the others, so what serving a goroutine profile allocates (a
	// leak's is large) is no allocation of the round.
	snapshots := []struct{ name, path string }{{"block", "/block"}, {"goroutine", "/goroutine"}, {"allocs", "/heap?gc=1"}}
	starts := map[string][]*profile.Profile{}
	for _, s := range snapshots {
		ps, err := readAll(s.path)
		if err != nil {
			return nil, err
		}
		starts[s.name] = ps
	}
	cpus := make([]*profile.Profile, len(replicas))
	errs := make([]error, len(replicas))
	var wg sync.WaitGroup
	seconds := int(math.Ceil(length.Seconds()))
	for i, r := range replicas {
		wg.Go(func() {
			cpus[i], errs[i] = fetchProfile(ctx, client, fmt.Sprintf("%s/profile?seconds=%d", base(r), seconds))
		})
	}
	err := run()
	wg.Wait()
	if err = errors.Join(append(errs, err)...); err != nil {
		return nil, err
	}
	out := roundProfiles{}
	for _, s := range slices.Backward(snapshots) {
		ends, err := readAll(s.path)
		if err != nil {
			return nil, err
		}
		if out[s.name], err = mergedDelta(replicas, starts[s.name], ends); err != nil {
			return nil, err
		}
	}
	out["allocs"].DefaultSampleType = "alloc_space" // the allocs file, as before the heap was read
	if out["cpu"], err = profile.Merge(cpus); err != nil {
		return nil, err
	}
	return out, nil
}

// mergedDelta is each replica's change from its start profile to its end
// one, merged over the replicas.
func mergedDelta(replicas []stack.Replica, starts, ends []*profile.Profile) (*profile.Profile, error) {
	ds := make([]*profile.Profile, len(replicas))
	for i, r := range replicas {
		d, err := delta(starts[i], ends[i])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Name, err)
		}
		ds[i] = d
	}
	return profile.Merge(ds)
}

// worseMetrics are the compared metrics that came out worse.
func worseMetrics(res compare.Result) []string {
	var out []string
	for _, row := range res.Rows {
		if row.Status == compare.Worse {
			out = append(out, row.Metric)
		}
	}
	return out
}

// changedFiles are the files that differ between the baseline and the
// candidate (the work tree when candidate is ""), relative to root.
func changedFiles(ctx context.Context, root, baseline, candidate string) []string {
	args := []string{"diff", "--name-only", baseline}
	if candidate != "" {
		args = append(args, candidate)
	}
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return nil
	}
	return strings.Fields(string(out))
}

// profiledMetrics are the compared metrics whose profiles the profiled pairs
// are diffed for: the worse ones, and when profiling always runs one metric
// of each profile the worse ones leave out, so a diff that shows nothing is
// on record too.
func profiledMetrics(res compare.Result, always bool) []toDiff {
	var out []toDiff
	seen := map[profdiff.Measure]bool{}
	for _, metric := range worseMetrics(res) {
		if m, ok := measureOf[metric]; ok {
			out = append(out, toDiff{metric, true})
			seen[m] = true
		}
	}
	if !always {
		return out
	}
	for _, row := range res.Rows {
		if m, ok := measureOf[row.Metric]; ok && !seen[m] {
			out = append(out, toDiff{row.Metric, false})
			seen[m] = true
		}
	}
	return out
}

// toDiff is a compared metric to diff profiles for, and whether the
// comparison found it worse.
type toDiff struct {
	metric string
	worse  bool
}

// whyWorse diffs the profiled rounds for every metric: the functions whose
// cost per request grew most, above the rounds' noise.
func whyWorse(metrics []toDiff, base, cand []roundProfiles, requests int64, changed []string) []report.ProfileDiff {
	var out []report.ProfileDiff
	for _, pm := range metrics {
		m := measureOf[pm.metric]
		in := profdiff.Input{Changed: changed}
		for i := range base {
			in.Baseline = append(in.Baseline, profdiff.Round{Profile: base[i][profileName(m)], Requests: requests})
			in.Candidate = append(in.Candidate, profdiff.Round{Profile: cand[i][profileName(m)], Requests: requests})
		}
		kind := profileName(m)
		d := report.ProfileDiff{Metric: pm.metric, Worse: pm.worse, Profile: kind, Pairs: len(base),
			Command: fmt.Sprintf("go tool pprof -sample_index=%s -top -diff_base=%s %s", m.SampleType, profileFile(Baseline, kind), profileFile(Candidate, kind))}
		res, err := profdiff.Diff(in, m, profdiff.DefaultOptions)
		if err != nil {
			d.Why = err.Error()
			out = append(out, d)
			continue
		}
		// The function the pull request changed whose cost with everything
		// it calls grew most, first: where the change is, the author's
		// first question; then the three that grew most on their own: what
		// costs more.
		for _, f := range res.Top(profdiff.Cum, len(res.Funcs)) {
			if f.Cum.AboveNoise && f.Changed != "" {
				d.Funcs = append(d.Funcs, profileFunc(res, f, profdiff.Cum))
				break
			}
		}
		for _, f := range res.Top(profdiff.Flat, 3) {
			if f.Flat.AboveNoise {
				d.Funcs = append(d.Funcs, profileFunc(res, f, profdiff.Flat))
			}
		}
		if len(d.Funcs) == 0 {
			d.Why = fmt.Sprintf("no function grew above the noise of %d profiled pairs in the %s profile", len(base), kind)
		}
		out = append(out, d)
	}
	return out
}

// profileFunc is f's growth of kind k as the reports show it.
func profileFunc(res profdiff.Result, f profdiff.Func, k profdiff.Kind) report.ProfileFunc {
	c := f.Value(k)
	where := cmp.Or(f.Changed, f.File)
	if where != "" && f.Line > 0 {
		where += ":" + strconv.FormatInt(f.Line, 10)
	}
	return report.ProfileFunc{
		Name: profdiff.ShortName(f.Name), Where: where, Changed: f.Changed != "", Callees: k == profdiff.Cum, Copies: f.Copies,
		Baseline: c.Baseline, Candidate: c.Candidate, Unit: res.Measure.Unit, Noun: res.Measure.Noun,
		Text: res.Line(f, k),
	}
}

// profileName is the file name part of a measure's profiles: cpu,
// goroutine, block, or allocs (the heap's change, live and allocated).
func profileName(m profdiff.Measure) string {
	switch m {
	case profdiff.CPU:
		return "cpu"
	case profdiff.Goroutines:
		return "goroutine"
	case profdiff.Delay:
		return "block"
	}
	return "allocs"
}

// profiledRequests is how many requests a round sends in all, warm-up
// included, as its profiles cover the whole round.
func profiledRequests(r thresholds.Round) int64 {
	return int64(math.Round(r.Rate * (r.WarmUp + r.Duration).Seconds()))
}

// mergedFiles are each build's profiles merged over its profiled rounds, by
// the file name they go to in the report directory.
func mergedFiles(base, cand []roundProfiles) map[string]*profile.Profile {
	out := map[string]*profile.Profile{}
	for _, b := range []struct {
		name   string
		rounds []roundProfiles
	}{{Baseline, base}, {Candidate, cand}} {
		byName := map[string][]*profile.Profile{}
		for _, r := range b.rounds {
			for name, p := range r {
				byName[name] = append(byName[name], p)
			}
		}
		for name, ps := range byName {
			if p, err := profile.Merge(ps); err == nil {
				out[profileFile(b.name, name)] = p
			}
		}
	}
	return out
}

// profileFile is the file a build's merged profile of one kind goes to.
func profileFile(variant, kind string) string { return variant + "." + kind + ".pb.gz" }

// writeProfiles puts the builds' merged profiles in the report directory,
// where the reports' go tool pprof commands read them.
func writeProfiles(dir string, files map[string]*profile.Profile) error {
	if len(files) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write profiles: %w", err)
	}
	for name, p := range files {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("write profiles: %w", err)
		}
		err = p.Write(f) // gzip'd, as go tool pprof reads it
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write profiles: %s: %w", name, err)
		}
	}
	return nil
}
