// Package fault injects latency, CPU work, errors and memory growth into HTTP requests, so a gate can prove it notices them.
package fault

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config says which faults to inject into every request. The zero value
// injects nothing.
type Config struct {
	Latency    time.Duration // added to every request
	Jitter     time.Duration // extra random latency in [0, Jitter)
	CPU        time.Duration // busy CPU work per request
	ErrorRatio float64       // share of requests answered 500, 0..1
	Leak       int64         // bytes retained per request, never freed
	Allocs     int           // short-lived heap allocations of 64 bytes per request, freed at once
}

// Enabled reports whether any fault is configured.
func (c Config) Enabled() bool { return c != Config{} }

// Validate returns every problem with c.
func (c Config) Validate() error {
	var errs []error
	if c.Latency < 0 {
		errs = append(errs, fmt.Errorf("fault latency must be >= 0, got %s", c.Latency))
	}
	if c.Jitter < 0 {
		errs = append(errs, fmt.Errorf("fault jitter must be >= 0, got %s", c.Jitter))
	}
	if c.CPU < 0 {
		errs = append(errs, fmt.Errorf("fault cpu must be >= 0, got %s", c.CPU))
	}
	if !(c.ErrorRatio >= 0 && c.ErrorRatio <= 1) { // also rejects NaN
		errs = append(errs, fmt.Errorf("fault error ratio must be within 0..1, got %v", c.ErrorRatio))
	}
	if c.Leak < 0 {
		errs = append(errs, fmt.Errorf("fault leak must be >= 0 bytes, got %d", c.Leak))
	}
	if c.Allocs < 0 {
		errs = append(errs, fmt.Errorf("fault allocs must be >= 0, got %d", c.Allocs))
	}
	return errors.Join(errs...)
}

// String lists the active faults, for the startup log.
func (c Config) String() string {
	if !c.Enabled() {
		return "none"
	}
	var parts []string
	if c.Latency > 0 || c.Jitter > 0 {
		parts = append(parts, fmt.Sprintf("latency=%s+[0,%s)", c.Latency, c.Jitter))
	}
	if c.CPU > 0 {
		parts = append(parts, fmt.Sprintf("cpu=%s", c.CPU))
	}
	if c.ErrorRatio > 0 {
		parts = append(parts, fmt.Sprintf("error-ratio=%v", c.ErrorRatio))
	}
	if c.Leak > 0 {
		parts = append(parts, fmt.Sprintf("leak=%dB/request", c.Leak))
	}
	if c.Allocs > 0 {
		parts = append(parts, fmt.Sprintf("allocs=%d/request", c.Allocs))
	}
	return strings.Join(parts, " ")
}

// Injector applies a Config to requests. It holds the leaked memory, so it
// lives as long as the server.
type Injector struct {
	cfg Config

	mu     sync.Mutex
	leaked [][]byte
	total  int64
}

// New returns an Injector for a valid cfg.
func New(cfg Config) (*Injector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Injector{cfg: cfg}, nil
}

// Leaked returns how many bytes the injector retains.
func (in *Injector) Leaked() int64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.total
}

// Middleware wraps next with the configured faults. With no fault configured
// it returns next itself, so the default costs nothing.
func (in *Injector) Middleware(next http.Handler) http.Handler {
	if !in.cfg.Enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := in.latency(); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
			}
		}
		if in.cfg.CPU > 0 {
			spin(in.cfg.CPU)
		}
		if in.cfg.Leak > 0 {
			in.leak(in.cfg.Leak)
		}
		if in.cfg.Allocs > 0 {
			churn(in.cfg.Allocs)
		}
		if in.cfg.ErrorRatio > 0 && rand.Float64() < in.cfg.ErrorRatio {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"error":"injected fault"}` + "\n"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (in *Injector) latency() time.Duration {
	d := in.cfg.Latency
	if in.cfg.Jitter > 0 {
		d += rand.N(in.cfg.Jitter)
	}
	return d
}

// spin keeps one core busy for d of wall time.
func spin(d time.Duration) {
	end := time.Now().Add(d)
	x := uint64(1)
	for time.Now().Before(end) {
		for range 1000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	sink.Add(x) // keeps the loop from being optimised away
}

var sink atomic.Uint64

// churn makes n heap allocations of 64 bytes that die at once: work for the
// allocator and the GC, no growth.
func churn(n int) {
	var keep *[8]uint64
	for i := range n {
		b := new([8]uint64)
		b[0] = uint64(i)
		if keep != nil {
			b[1] = keep[0]
		}
		keep = b
		escape.Store(keep) // forces each one onto the heap
	}
}

var escape atomic.Pointer[[8]uint64]

func (in *Injector) leak(n int64) {
	b := make([]byte, n)
	// Touch every page so the bytes count in the resident set, not only in
	// the address space.
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	in.mu.Lock()
	in.leaked = append(in.leaked, b)
	in.total += n
	in.mu.Unlock()
}
