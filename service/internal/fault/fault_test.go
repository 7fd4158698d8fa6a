package fault

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusTeapot)
})

func serve(t *testing.T, h http.Handler) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/tasks", nil))
	return rec
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"the zero config is valid", Config{}, ""},
		{"every fault at once is valid", Config{time.Millisecond, time.Millisecond, time.Millisecond, 0.5, 1024, 10}, ""},
		{"a negative latency", Config{Latency: -1}, "fault latency must be >= 0, got -1ns"},
		{"a negative jitter", Config{Jitter: -time.Second}, "fault jitter must be >= 0, got -1s"},
		{"a negative cpu", Config{CPU: -time.Millisecond}, "fault cpu must be >= 0, got -1ms"},
		{"a ratio above one", Config{ErrorRatio: 1.5}, "fault error ratio must be within 0..1, got 1.5"},
		{"a NaN ratio", Config{ErrorRatio: math.NaN()}, "fault error ratio must be within 0..1, got NaN"},
		{"a negative leak", Config{Leak: -3}, "fault leak must be >= 0 bytes, got -3"},
		{"two problems are both reported", Config{Latency: -1, Leak: -1},
			"fault latency must be >= 0, got -1ns\nfault leak must be >= 0 bytes, got -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.EqualError(t, err, tt.want)
			_, err = New(tt.cfg)
			assert.EqualError(t, err, tt.want)
		})
	}
}

func TestNoFaultPassesThrough(t *testing.T) {
	in, err := New(Config{})
	require.NoError(t, err)
	assert.Equal(t, "none", Config{}.String())
	for range 100 {
		assert.Equal(t, http.StatusTeapot, serve(t, in.Middleware(ok)).Code)
	}
	assert.Zero(t, in.Leaked())
}

func TestErrorRatio(t *testing.T) {
	tests := []struct {
		name     string
		ratio    float64
		min, max int // 500s out of 2000
	}{
		{"ratio one fails every request", 1, 2000, 2000},
		{"ratio one half fails about half", 0.5, 800, 1200},
		{"a tiny ratio fails few", 0.01, 1, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := New(Config{ErrorRatio: tt.ratio})
			require.NoError(t, err)
			h := in.Middleware(ok)
			fails := 0
			for range 2000 {
				rec := serve(t, h)
				switch rec.Code {
				case http.StatusInternalServerError:
					fails++
					assert.JSONEq(t, `{"error":"injected fault"}`, rec.Body.String())
				case http.StatusTeapot:
				default:
					t.Fatalf("unexpected status %d", rec.Code)
				}
			}
			assert.GreaterOrEqual(t, fails, tt.min)
			assert.LessOrEqual(t, fails, tt.max)
		})
	}
}

func TestLatencyStaysWithinJitter(t *testing.T) {
	in, err := New(Config{Latency: 10 * time.Millisecond, Jitter: 5 * time.Millisecond})
	require.NoError(t, err)
	seen := map[time.Duration]bool{}
	for range 1000 {
		d := in.latency()
		require.GreaterOrEqual(t, d, 10*time.Millisecond)
		require.Less(t, d, 15*time.Millisecond)
		seen[d] = true
	}
	assert.Greater(t, len(seen), 100, "jitter varies")
}

func TestLatencyDelaysTheRequest(t *testing.T) {
	in, err := New(Config{Latency: 30 * time.Millisecond})
	require.NoError(t, err)
	start := time.Now()
	assert.Equal(t, http.StatusTeapot, serve(t, in.Middleware(ok)).Code)
	assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)
}

func TestLatencyEndsWhenTheClientLeaves(t *testing.T) {
	in, err := New(Config{Latency: time.Hour})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		rec := httptest.NewRecorder()
		in.Middleware(ok).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx))
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a canceled request still waits for the injected latency")
	}
}

func TestCPUBurnsForTheDuration(t *testing.T) {
	in, err := New(Config{CPU: 20 * time.Millisecond})
	require.NoError(t, err)
	start := time.Now()
	serve(t, in.Middleware(ok))
	assert.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond)
}

func TestLeakRetainsBytesPerRequest(t *testing.T) {
	in, err := New(Config{Leak: 1 << 20})
	require.NoError(t, err)
	for range 10 {
		assert.Equal(t, http.StatusTeapot, serve(t, in.Middleware(ok)).Code)
	}
	assert.Equal(t, int64(10<<20), in.Leaked())
	assert.Equal(t, "leak=1048576B/request", in.cfg.String())
}

func TestAllocsFaultAllocatesPerRequest(t *testing.T) {
	in, err := New(Config{Allocs: 500})
	if err != nil {
		t.Fatal(err)
	}
	h := in.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest(http.MethodGet, "/tasks", nil)
	allocs := testing.AllocsPerRun(20, func() { h.ServeHTTP(httptest.NewRecorder(), req) })
	if allocs < 500 {
		t.Errorf("%v allocations per request, want at least 500", allocs)
	}
	plain := (&Injector{}).Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	if base := testing.AllocsPerRun(20, func() { plain.ServeHTTP(httptest.NewRecorder(), req) }); base >= 500 {
		t.Errorf("without the fault %v allocations per request: the twin measures nothing", base)
	}
	if err := (Config{Allocs: -1}).Validate(); err == nil || !strings.Contains(err.Error(), "fault allocs must be >= 0, got -1") {
		t.Errorf("negative allocs: %v", err)
	}
}
