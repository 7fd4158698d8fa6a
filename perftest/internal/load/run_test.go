package load

import (
	"bytes"
	"context"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/perfgate/perfgate/thresholds"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// steady is a step to rate followed by a hold for d.
func steady(rate float64, d time.Duration) []Stage {
	return []Stage{{Duration: 0, Target: rate}, {Duration: d, Target: rate}}
}

// eachClient runs test with the default fasthttp client and with net/http.
func eachClient(t *testing.T, test func(t *testing.T, client *http.Client)) {
	t.Run("fasthttp", func(t *testing.T) {
		t.Parallel()
		test(t, nil)
	})
	t.Run("net/http", func(t *testing.T) {
		t.Parallel()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
		defer client.CloseIdleConnections()
		test(t, client)
	})
}

func run(t *testing.T, cfg Config) *Result {
	t.Helper()
	res, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	require.NotNil(t, res)
	return res
}

func TestRunAchievesTheTargetRate(t *testing.T) {
	t.Parallel()
	eachClient(t, func(t *testing.T, client *http.Client) {
		f := newFake()
		cfg := Config{Client: client, Targets: []string{f.start(t)}, Stages: steady(200, 2*s), Workload: committed(t), MaxInFlight: 64, Timeout: 2 * s, Seed: 1}
		res := run(t, cfg)

		total := RampPacer{Stages: cfg.Stages}.Total()
		assert.InDelta(t, total, float64(res.Sent), total*0.1, "sent within 10%% of the plan")
		assert.LessOrEqual(t, float64(res.Sent+res.Dropped), total+1, "never more than the plan")
		assert.GreaterOrEqual(t, float64(res.Sent+res.Dropped), total-1, "every due request is sent or dropped")
		assert.Equal(t, res.Sent, f.received.Load(), "the server saw every request sent")
		assert.Equal(t, res.Sent, res.Completed)
		assert.Zero(t, res.Errors)
		assert.InDelta(t, 200, res.TargetRate, 1)
		assert.InDelta(t, res.TargetRate, res.AchievedRate, 20)
		assert.Equal(t, res.Completed, res.Latency.TotalCount())
		assert.Positive(t, res.Quantile(0.95))
		assert.False(t, res.End.Before(res.Start.Add(2*s-earlySend)), "load ends with the last stage")
		assert.Equal(t, res.Start, res.MeasuredFrom)

		require.Len(t, res.Timeline, 2)
		var sentInTimeline float64
		for i, sec := range res.Timeline {
			assert.Equal(t, i+1, sec.T)
			assert.InDelta(t, 200, sec.TargetRate, 1e-6)
			assert.Positive(t, sec.P95)
			assert.Positive(t, sec.InFlight)
			sentInTimeline += sec.Rate
		}
		assert.InDelta(t, float64(res.Sent), sentInTimeline, 1e-6)
		f.mu.Lock()
		defer f.mu.Unlock()
		assert.Zero(t, f.bad, "every request is one the API accepts")
		assert.Zero(t, f.unknown, "every id used is one the server issued")
	})
}

func TestRunFollowsTheMix(t *testing.T) {
	eachClient(t, func(t *testing.T, client *http.Client) {
		f := newFake()
		// A short ramp spares the server a storm of new connections.
		stages := []Stage{{Duration: 500 * time.Millisecond, Target: 1000}, {Duration: 2500 * time.Millisecond, Target: 1000}}
		res := run(t, Config{Client: client, Targets: []string{f.start(t)}, Stages: stages, Workload: tasks(t, 1, 4, 3, 1, 1), MaxInFlight: 128, Timeout: 5 * s, Seed: 7})

		require.Greater(t, res.Sent, int64(1000), "enough requests to judge proportions")
		want := map[string]float64{"list": 0.1, "get": 0.4, "create": 0.3, "update": 0.1, "delete": 0.1}
		server := f.opCounts()
		for name, share := range want {
			st := res.ByTemplate[name]
			require.NotNil(t, st, name)
			assert.Equal(t, int(st.Count), server[name], "%s: the server saw what the generator counted", name)
			assert.InDelta(t, share, float64(st.Count)/float64(res.Sent), 0.05, "%s share", name)
			assert.Equal(t, st.Count, st.Latency.TotalCount(), name)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		assert.Zero(t, f.bad)
		assert.Zero(t, f.unknown)
		assert.Equal(t, int64(f.statuses[http.StatusNotFound]), res.ByStatus["404"], "404s are counted by status")
		assert.Zero(t, res.Errors, "a 404 of a concurrently deleted task is no error")
	})
}

func TestRunSendsTheFallbackWhileAPoolIsEmpty(t *testing.T) {
	t.Parallel()
	f := newFake()
	// Each delete forgets the task it deletes, so the pool keeps running dry.
	res := run(t, Config{Targets: []string{f.start(t)}, Stages: steady(100, s), Workload: tasks(t, 0, 0, 0, 0, 1), MaxInFlight: 8, Timeout: 2 * s})
	creates, deletes := res.ByTemplate["create"].Count, res.ByTemplate["delete"].Count
	assert.Equal(t, res.Sent, creates+deletes)
	assert.GreaterOrEqual(t, creates, deletes, "no delete without a task created before it")
	assert.Positive(t, deletes)
	assert.Equal(t, creates, res.ByStatus["201"])
	assert.Equal(t, deletes, res.ByStatus["204"], "no task is deleted twice")
	f.mu.Lock()
	defer f.mu.Unlock()
	assert.Zero(t, f.unknown)
}

func TestRunSpreadsOverEveryTarget(t *testing.T) {
	t.Parallel()
	for _, balance := range []Balance{RoundRobin, LeastInFlight} {
		t.Run(map[Balance]string{RoundRobin: "round robin", LeastInFlight: "least in flight"}[balance], func(t *testing.T) {
			t.Parallel()
			a, b := newFake(), newFake()
			res := run(t, Config{Targets: []string{a.start(t), b.start(t)}, Balance: balance, Stages: steady(300, s), Workload: listOnly, MaxInFlight: 32, Timeout: 2 * s})
			gotA, gotB := a.received.Load(), b.received.Load()
			assert.Equal(t, res.Sent, gotA+gotB)
			assert.Greater(t, gotA, res.Sent/4, "the first target gets load")
			assert.Greater(t, gotB, res.Sent/4, "the second target gets load")
		})
	}
}

func TestRunCountsServerErrors(t *testing.T) {
	t.Parallel()
	eachClient(t, func(t *testing.T, client *http.Client) {
		f := newFake()
		f.failEvery = 4
		res := run(t, Config{Client: client, Targets: []string{f.start(t)}, Stages: steady(200, s), Workload: listOnly, MaxInFlight: 32, Timeout: 2 * s})
		require.Positive(t, res.Sent)
		assert.Equal(t, res.Sent/4, res.Errors, "every fourth request failed")
		assert.Equal(t, res.Errors, res.ByStatus["500"])
		assert.Equal(t, res.Sent-res.Errors, res.ByStatus["200"])
		assert.Equal(t, res.Errors, res.ByTemplate["list"].Errors)
		assert.Equal(t, res.Sent, res.Completed, "a 500 is still a response")
		var inTimeline int64
		for _, sec := range res.Timeline {
			inTimeline += sec.Errors
		}
		assert.Equal(t, res.Errors, inTimeline)
	})
}

func TestRunCountsTransportErrors(t *testing.T) {
	t.Parallel()
	eachClient(t, func(t *testing.T, client *http.Client) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close()) // nothing listens there now

		res := run(t, Config{Client: client, Targets: []string{"http://" + addr}, Stages: steady(100, s), Workload: listOnly, MaxInFlight: 8, Timeout: s})
		require.Positive(t, res.Sent)
		assert.Equal(t, res.Sent, res.Errors)
		assert.Equal(t, res.Sent, res.ByStatus["error"])
		assert.Zero(t, res.Completed)
	})
}

func TestRunCountsTimeouts(t *testing.T) {
	t.Parallel()
	eachClient(t, func(t *testing.T, client *http.Client) {
		f := newFake()
		f.delay = func(int64) time.Duration { return time.Minute }
		start := time.Now()
		res := run(t, Config{Client: client, Targets: []string{f.start(t)}, Stages: steady(20, s), Workload: listOnly, MaxInFlight: 32, Timeout: 200 * time.Millisecond})
		assert.Less(t, time.Since(start), 30*s, "a hung server does not hold the run")
		require.Positive(t, res.Sent)
		assert.Equal(t, res.Sent, res.ByStatus["timeout"])
		assert.Equal(t, res.Sent, res.Errors)
		assert.GreaterOrEqual(t, res.Quantile(0.5), 200*time.Millisecond, "a timeout is as slow as the timeout")
	})
}

// A request given up on is never recorded by the server: the generator
// counts it against the target it went to, so a latency SLO can count it.
func TestRunCountsTimeoutsPerTarget(t *testing.T) {
	t.Parallel()
	eachClient(t, func(t *testing.T, client *http.Client) {
		fast, hung := newFake(), newFake()
		hung.delay = func(int64) time.Duration { return time.Minute }
		res := run(t, Config{Client: client, Targets: []string{fast.start(t), hung.start(t)}, Stages: steady(40, s),
			Workload: listOnly, MaxInFlight: 32, Timeout: 200 * time.Millisecond})
		require.Len(t, res.TimedOutByTarget, 2)
		assert.Zero(t, res.TimedOutByTarget[0], "the fast target answered every request")
		assert.Positive(t, res.TimedOutByTarget[1])
		assert.Equal(t, res.ByStatus["timeout"], res.TimedOutByTarget[1])
	})
}

func TestRunDropsWhatIsDueWhileEverySlotIsTaken(t *testing.T) {
	t.Parallel()
	eachClient(t, func(t *testing.T, client *http.Client) {
		f := newFake()
		f.delay = func(int64) time.Duration { return 50 * time.Millisecond }
		cfg := Config{Client: client, Targets: []string{f.start(t)}, Stages: steady(100, s), Workload: listOnly, MaxInFlight: 1, Timeout: 2 * s}
		res := run(t, cfg)

		total := RampPacer{Stages: cfg.Stages}.Total()
		assert.InDelta(t, total, float64(res.Sent+res.Dropped), 1, "every due request is sent or dropped")
		assert.Positive(t, res.Dropped)
		assert.LessOrEqual(t, res.Sent, int64(25), "one slot at 50 ms a request sends at most ~20 in a second")
		assert.Equal(t, res.Sent, f.received.Load())
		assert.Less(t, res.AchievedRate, res.TargetRate/2)
		assert.GreaterOrEqual(t, res.Quantile(0.5), 50*time.Millisecond)
		var dropped int64
		for _, sec := range res.Timeline {
			assert.LessOrEqual(t, sec.InFlight, 1)
			dropped += sec.Dropped
		}
		assert.Equal(t, res.Dropped, dropped, "the timeline shows the drops")
	})
}

func TestRunRecordsSlowResponses(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.delay = func(n int64) time.Duration {
		if n%10 == 0 {
			return 100 * time.Millisecond
		}
		return 0
	}
	res := run(t, Config{Targets: []string{f.start(t)}, Stages: steady(200, s), Workload: listOnly, MaxInFlight: 64, Timeout: 2 * s})
	assert.GreaterOrEqual(t, res.Quantile(0.95), 100*time.Millisecond, "one in ten takes 100 ms")
	assert.Less(t, res.Quantile(0.5), 100*time.Millisecond)
	assert.GreaterOrEqual(t, res.ByTemplate["list"].Latency.ValueAtQuantile(95), int64(100_000))
}

func TestLatencyCountsFromTheIntendedTime(t *testing.T) {
	t.Parallel()
	eachClient(t, func(t *testing.T, client *http.Client) {
		f := newFake()
		p, err := Config{Targets: []string{f.start(t)}, Stages: steady(10, s), Workload: listOnly, Timeout: s, Client: client}.prepare()
		require.NoError(t, err)
		r, cancel := newRunner(context.Background(), p)
		defer cancel()
		w := newWorker(r)
		defer w.close()

		time.Sleep(100 * time.Millisecond)
		r.inFlight.Add(1)
		w.do(job{at: 0}) // due at Start, sent 100 ms late

		require.EqualValues(t, 1, r.rec.lat.TotalCount())
		assert.GreaterOrEqual(t, r.rec.lat.Max(), int64(100_000), "latency includes the 100 ms the request waited to go out")
		assert.GreaterOrEqual(t, r.rec.lag.Max(), int64(100_000), "the send lag shows the generator's share")

		// A request released ahead of its intended time counts from its actual send.
		r.inFlight.Add(1)
		w.do(job{at: time.Since(r.start) + 50*time.Millisecond})
		assert.Less(t, r.rec.lat.Min(), int64(50_000))
	})
}

func TestRunExcludesWarmUp(t *testing.T) {
	t.Parallel()
	f := newFake()
	// The first second is slow; the measured one is not.
	started := time.Now()
	f.delay = func(int64) time.Duration {
		if time.Since(started) < 900*time.Millisecond {
			return 150 * time.Millisecond
		}
		return 0
	}
	cfg := Config{Targets: []string{f.start(t)}, Stages: steady(100, 2*s), WarmUp: s, Workload: listOnly, MaxInFlight: 64, Timeout: 2 * s}
	res := run(t, cfg)

	p := RampPacer{Stages: cfg.Stages}
	measured := p.Total() - p.hitsBy(cfg.WarmUp)
	assert.InDelta(t, measured, float64(res.Sent+res.Dropped), 1, "only requests intended after the warm-up count")
	assert.Less(t, res.Sent, f.received.Load(), "warm-up requests were sent but not counted")
	assert.Equal(t, res.Start.Add(s), res.MeasuredFrom)
	assert.Equal(t, res.Completed, res.Latency.TotalCount())
	assert.Less(t, res.Quantile(0.5), 150*time.Millisecond, "slow warm-up responses are not measured")
	require.Len(t, res.Timeline, 2)
	assert.GreaterOrEqual(t, res.Timeline[0].P95, 150*time.Millisecond, "the timeline still shows the warm-up")
	assert.Positive(t, res.Timeline[0].Rate)
	assert.InDelta(t, 100, res.TargetRate, 1)
}

func TestRunStopsPromptlyOnCancel(t *testing.T) {
	t.Parallel()
	eachClient(t, func(t *testing.T, client *http.Client) {
		f := newFake()
		f.delay = func(int64) time.Duration { return time.Minute } // in flight until canceled
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)

		start := time.Now()
		res, err := Run(ctx, Config{Client: client, Targets: []string{f.start(t)}, Stages: steady(50, time.Minute), Workload: listOnly, MaxInFlight: 100, Timeout: time.Minute})
		took := time.Since(start)

		require.ErrorIs(t, err, context.Canceled)
		require.NotNil(t, res, "a canceled run still reports what it saw")
		assert.Less(t, took, 10*s, "cancel stops a minute-long run")
		assert.Positive(t, res.Sent)
		assert.Equal(t, res.Sent, res.ByStatus["canceled"], "in-flight requests end as canceled")
		assert.Zero(t, res.Errors, "canceled requests are not the service's errors")
		assert.Less(t, len(res.Timeline), 10)
	})
}

func TestRunNeverSendsMoreThanPlanned(t *testing.T) {
	t.Parallel()
	f := newFake()
	cfg := Config{Targets: []string{f.start(t)}, Stages: []Stage{{Duration: 1500 * time.Millisecond, Target: 101}}, Workload: listOnly, MaxInFlight: 16, Timeout: s}
	res := run(t, cfg)
	total := RampPacer{Stages: cfg.Stages}.Total() // 75.75
	assert.LessOrEqual(t, float64(f.received.Load()), total)
	assert.LessOrEqual(t, float64(res.Sent+res.Dropped), total)
	assert.GreaterOrEqual(t, float64(res.Sent+res.Dropped), math.Floor(total))
}

func TestRunWritesProgress(t *testing.T) {
	t.Parallel()
	f := newFake()
	var out bytes.Buffer
	run(t, Config{Targets: []string{f.start(t)}, Stages: steady(50, 2*s), Workload: listOnly, MaxInFlight: 8, Timeout: s, Progress: &out})
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	require.NotEmpty(t, lines)
	line := regexp.MustCompile(`^\s+\d+s  target +[\d.]+/s  actual +[\d.]+/s  in-flight +\d+  errors \d+ \(\d+\.\d\d%\)  p95 +[\d.]+(µs|ms|s)$`)
	for _, l := range lines {
		assert.Regexp(t, line, l)
	}
	assert.Contains(t, lines[0], "    1s  target    50.0/s")
}

func TestRunRefusesBadConfig(t *testing.T) {
	good := Config{Targets: []string{"http://127.0.0.1:1"}, Stages: steady(10, s), Workload: listOnly}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"a remote target", func(c *Config) { c.Targets = []string{"http://10.1.2.3:8080"} },
			`load: config: Targets[0] "http://10.1.2.3:8080": host "10.1.2.3" is not loopback and not allowed: load goes only to 127.0.0.0/8, ::1, localhost and the hosts and CIDRs in Allow`},
		{"a remote host name", func(c *Config) { c.Targets = []string{"http://example.com"} },
			`load: config: Targets[0] "http://example.com": host "example.com" is not loopback and not allowed: load goes only to 127.0.0.0/8, ::1, localhost and the hosts and CIDRs in Allow`},
		{"no targets", func(c *Config) { c.Targets = nil }, "load: config: Targets: at least one base URL is needed"},
		{"a target without a scheme", func(c *Config) { c.Targets = []string{"127.0.0.1:8080"} },
			`load: config: Targets[0] "127.0.0.1:8080": not a URL: first path segment in URL cannot contain colon`},
		{"a target with a query", func(c *Config) { c.Targets = []string{"http://127.0.0.1:1/?a=b"} },
			`load: config: Targets[0] "http://127.0.0.1:1/?a=xxxxx": a base URL takes no query, fragment or user info`},
		{"a target with user info", func(c *Config) { c.Targets = []string{"http://u:s3cret@127.0.0.1:1/"} },
			`load: config: Targets[0] "http://xxxxx@127.0.0.1:1/": a base URL takes no query, fragment or user info`},
		{"a target that does not parse, with user info", func(c *Config) { c.Targets = []string{"http://u:s3cret@127.0.0.1:1/%zz"} },
			`load: config: Targets[0] "http://xxxxx@127.0.0.1:1/%zz": not a URL: invalid URL escape "%zz"`},
		{"no stages", func(c *Config) { c.Stages = nil }, "load: config: Stages: at least one stage is needed"},
		{"a warm-up as long as the load", func(c *Config) { c.WarmUp = s }, "load: config: WarmUp: 1s leaves nothing to measure of the 1s of stages"},
		{"no workload", func(c *Config) { c.Workload = nil }, "load: config: Workload: at least one request template is needed"},
		{"a template the spec would refuse", func(c *Config) {
			c.Workload = []thresholds.Template{{Name: "get", Weight: 1, Method: "GET", Path: "/tasks/${task}"}}
		}, `load: config: Workload: workload[0].path: unknown placeholder ${task}: no template captures into pool "task" (no template captures into any pool; the others are ${seq} and ${rand:8})`},
		{"a negative bound", func(c *Config) { c.MaxInFlight = -1 }, "load: config: MaxInFlight: -1 must be in 1..10000"},
		{"an unbounded bound", func(c *Config) { c.MaxInFlight = 1e6 }, "load: config: MaxInFlight: 1000000 must be in 1..10000"},
		{"a negative timeout", func(c *Config) { c.Timeout = -s }, "load: config: Timeout: -1s must be > 0"},
		{"two faults at once", func(c *Config) { c.Targets = []string{"ftp://127.0.0.1"}; c.MaxInFlight = -1 },
			"load: config: Targets[0] \"ftp://127.0.0.1\": scheme must be http or https\nload: config: MaxInFlight: -1 must be in 1..10000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.edit(&cfg)
			res, err := Run(context.Background(), cfg)
			require.Error(t, err)
			assert.Nil(t, res)
			assert.Equal(t, tt.want, err.Error())
		})
	}
	for _, ok := range []string{"http://localhost:1", "http://[::1]:1", "http://127.1.2.3:1/base/"} {
		_, err := parseTarget(ok, nil)
		assert.NoError(t, err, ok)
	}
	// A host beyond loopback only when the spec allows it (no request is sent here).
	_, err := parseTarget("http://staging.example.com:8080", nil)
	assert.ErrorContains(t, err, `host "staging.example.com" is not loopback and not allowed`)
	_, err = parseTarget("http://staging.example.com:8080", []string{"staging.example.com"})
	assert.NoError(t, err)
	// A CIDR holds the addresses in it; one too broad allows nothing.
	_, err = parseTarget("http://10.0.7.9:8080", []string{"10.0.7.0/24"})
	assert.NoError(t, err)
	_, err = parseTarget("http://10.0.8.9:8080", []string{"10.0.7.0/24"})
	assert.ErrorContains(t, err, `host "10.0.8.9" is not loopback and not allowed`)
	_, err = parseTarget("http://10.0.8.9:8080", []string{"0.0.0.0/0", "*", "10.0.0.0/8"})
	assert.ErrorContains(t, err, `host "10.0.8.9" is not loopback and not allowed`)
}

func TestResultQuantileOfNothingIsZero(t *testing.T) {
	var r *Result
	assert.Zero(t, r.Quantile(0.95))
	assert.Zero(t, (&Result{}).Quantile(0.95))
	h := newHist(histDigits)
	require.NoError(t, h.RecordValue(4100))
	assert.InDelta(t, float64(4100*time.Microsecond), float64((&Result{Latency: h}).Quantile(0.95)), float64(5*time.Microsecond))
}

func TestSameSeedSameRequests(t *testing.T) {
	draw := func(seed uint64) []job {
		p, err := Config{Targets: []string{"http://127.0.0.1:1"}, Stages: steady(10, s), Workload: committed(t), Seed: seed}.prepare()
		require.NoError(t, err)
		r := &runner{cfg: p}
		d := r.dealer()
		var jobs []job
		for n := range uint64(50) {
			jobs = append(jobs, d.deal(n, 0))
		}
		return jobs
	}
	assert.Equal(t, draw(3), draw(3))
	assert.NotEqual(t, draw(3), draw(4))
}

func TestFmtLatency(t *testing.T) {
	assert.Equal(t, "850µs", fmtLatency(850*time.Microsecond))
	assert.Equal(t, "4.1ms", fmtLatency(4100*time.Microsecond))
	assert.Equal(t, "1.25s", fmtLatency(1250*time.Millisecond))
}

func TestRunCountsByTemplate(t *testing.T) {
	t.Parallel()
	eachClient(t, func(t *testing.T, client *http.Client) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/slow":
				select {
				case <-time.After(time.Minute):
				case <-r.Context().Done():
				}
			case "/missing":
				http.NotFound(w, r)
			}
		}))
		t.Cleanup(srv.Close)
		w := []thresholds.Template{
			{Name: "fast", Weight: 2, Method: "GET", Path: "/fast"},
			{Name: "slow", Weight: 1, Method: "GET", Path: "/slow"},
			{Name: "missing", Weight: 1, Method: "GET", Path: "/missing", Expect: []int{200}},
			{Name: "gone", Weight: 1, Method: "GET", Path: "/missing", Expect: []int{404}},
		}
		res := run(t, Config{Client: client, Targets: []string{srv.URL}, Stages: steady(100, s), Workload: w, MaxInFlight: 64, Timeout: 200 * time.Millisecond, Seed: 5})
		assert.Equal(t, []string{"fast", "slow", "missing", "gone"}, res.Templates)
		var sum int64
		for _, name := range res.Templates {
			st := res.ByTemplate[name]
			require.Positive(t, st.Count, name)
			sum += st.Count
		}
		assert.Equal(t, res.Sent, sum)
		assert.Zero(t, res.ByTemplate["fast"].Errors)
		assert.Equal(t, res.ByTemplate["slow"].Count, res.ByTemplate["slow"].Errors, "every slow request timed out")
		assert.Equal(t, res.ByTemplate["missing"].Count, res.ByTemplate["missing"].Errors, "a 404 it does not expect is an error")
		assert.Zero(t, res.ByTemplate["gone"].Errors, "a 404 it expects is not")
		assert.Equal(t, res.ByTemplate["slow"].Count, res.ByStatus["timeout"])
		assert.Equal(t, res.Errors, res.ByTemplate["slow"].Errors+res.ByTemplate["missing"].Errors)
	})
}

// With OnTime, requests that left late are counted and kept out of the
// on-time latency, which a stall of the generator therefore does not move.
func TestRecorderKeepsTheOnTimeLatencyApart(t *testing.T) {
	r := newRecorder(0, 50*time.Millisecond, 1, 1, 1)
	r.add(0, 0, 0, 0, time.Second, 2*time.Millisecond, 2*time.Millisecond, 200, gotResponse, true, false)
	r.add(0, 0, 0, 0, time.Second, 130*time.Millisecond, 120*time.Millisecond, 200, gotResponse, true, false)
	r.add(0, 0, 0, 0, time.Second, 50*time.Millisecond, 50*time.Millisecond, 200, gotResponse, true, false)
	var res Result
	r.fill(&res, []string{"get"})
	assert.Equal(t, int64(3), res.Latency.TotalCount())
	assert.Equal(t, int64(2), res.OnTime.TotalCount(), "50ms late is still on time")
	assert.Equal(t, int64(1), res.Late)
	assert.Less(t, res.OnTimeQuantile(0.99), 60*time.Millisecond)
	assert.Greater(t, res.Quantile(0.99), 100*time.Millisecond)

	plain := newRecorder(0, 0, 1, 1, 1)
	plain.add(0, 0, 0, 0, time.Second, 130*time.Millisecond, 120*time.Millisecond, 200, gotResponse, true, false)
	var p Result
	plain.fill(&p, []string{"get"})
	assert.Nil(t, p.OnTime)
	assert.Equal(t, p.Quantile(0.5), p.OnTimeQuantile(0.5), "without OnTime, every request counts")
}
