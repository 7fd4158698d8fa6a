// Package app assembles the task service: storage, routes, middleware order and the HTTP server's lifecycle.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/perfgate/perfgate/service/internal/api"
	"github.com/perfgate/perfgate/service/internal/fault"
	"github.com/perfgate/perfgate/service/internal/store"
	"github.com/perfgate/perfgate/service/internal/telemetry"
)

// RouteMetrics is the path of the Prometheus endpoint.
const RouteMetrics = "/metrics"

// Routes are every route label value besides telemetry.Unmatched.
var Routes = []string{api.RouteTasks, api.RouteTask, api.RouteHealthz, api.RouteReadyz, RouteMetrics}

// Config is everything the service needs to run.
type Config struct {
	Addr            string
	DB              string
	Instance        string
	MaxBody         int64
	BusyTimeout     time.Duration
	Readers         int
	ShutdownTimeout time.Duration
	Fault           fault.Config
	Build           telemetry.BuildInfo
	Profiles        bool // serve Go's profiles under RouteProfiles
}

// Server timeouts. Reading headers and bodies is bounded so slow clients
// cannot hold connections; writing allows for injected latency plus a full
// database busy wait.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 15 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 32 << 10
)

// Timeouts bound how long a connection may take at each step.
type Timeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

// DefaultTimeouts are the timeouts the service runs with.
var DefaultTimeouts = Timeouts{ReadHeader: ReadHeaderTimeout, Read: ReadTimeout, Write: WriteTimeout, Idle: IdleTimeout}

// newServer returns the HTTP server around h with slow-client protection.
func newServer(h http.Handler, log *slog.Logger, t Timeouts) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Handler builds the service's handler, from the outside in: access log,
// in-flight gauge, request counter and latency histogram, panic recovery,
// the mux, and on task routes only, the fault injector. Faults therefore show
// in the metrics like real ones.
func Handler(s api.Store, reg *prometheus.Registry, log *slog.Logger, maxBody int64, faults *fault.Injector) http.Handler {
	mux := http.NewServeMux()
	api.New(s, maxBody, log).Register(mux, faults.Middleware)
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      reg,
		// Scrapes come from a Prometheus next door. Gzip would allocate a
		// new compressor (hundreds of KiB) whenever a GC has emptied its
		// pool: noise of ±10% in the bytes a few-second round allocates
		// per request, for no bandwidth worth saving.
		DisableCompression: true,
	})
	mux.Handle("GET "+RouteMetrics, metrics)
	mux.Handle(RouteMetrics, api.MethodNotAllowed("GET, HEAD"))

	h := telemetry.NewHTTP(reg, Routes...)
	return telemetry.AccessLog(log, h.Route, h.Wrap(recoverPanics(log, mux)))
}

// RouteProfiles is where WithProfiles serves Go's profiles (net/http/pprof).
const RouteProfiles = "/debug/pprof/"

// ProfileRate is the allocation profile's sampling interval in bytes while
// profiles are served: the default 512 KiB samples a few-second round of a
// service that allocates kilobytes per request a few dozen times, too few to
// tell one function's growth from the sampling's own noise.
const ProfileRate = 16 << 10

// BlockProfileRate is the block profile's sampling rate while profiles are
// served, in nanoseconds blocked per sample: a wait of 10 µs or more on a
// lock, a channel or a pooled connection is always recorded, a shorter one
// in proportion, so the gate's profiled rounds can say where requests wait.
const BlockProfileRate = 10_000

// WithProfiles serves Go's profiles under RouteProfiles beside h, outside
// its access log and metrics: a profile the gate takes while it loads the
// service is not a request it measures. Keep it off a public network.
// Every other request goes straight to h: a ServeMux in front of all of them
// cost about 3 allocations per request (+3.2% and +3.4% in two A/A runs with
// and without -pprof).
func WithProfiles(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(RouteProfiles, pprof.Index) // allocs, heap, goroutine, … by name
	mux.HandleFunc(RouteProfiles+"cmdline", pprof.Cmdline)
	mux.HandleFunc(RouteProfiles+"profile", pprof.Profile)
	mux.HandleFunc(RouteProfiles+"symbol", pprof.Symbol)
	mux.HandleFunc(RouteProfiles+"trace", pprof.Trace)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, RouteProfiles) {
			mux.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// recoverPanics turns a handler panic into a counted 500 instead of a
// dropped connection.
func recoverPanics(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			log.LogAttrs(r.Context(), slog.LevelError, "handler panic",
				slog.String("path", r.URL.Path), slog.Any("panic", v))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"error":"internal error"}` + "\n"))
		}()
		next.ServeHTTP(w, r)
	})
}

// Run serves until ctx is done, then stops accepting connections, lets
// in-flight requests finish within cfg.ShutdownTimeout and closes the
// database. ready, if not nil, gets the listening address.
func Run(ctx context.Context, cfg Config, log *slog.Logger, ready func(net.Addr)) (err error) {
	faults, err := fault.New(cfg.Fault)
	if err != nil {
		return err
	}
	opts := store.DefaultOptions
	opts.BusyTimeout = cfg.BusyTimeout
	opts.Readers = cfg.Readers
	s, err := store.Open(ctx, cfg.DB, opts)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := s.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing database: %w", cerr))
			return
		}
		log.LogAttrs(context.Background(), slog.LevelInfo, "database closed")
	}()

	reg := telemetry.NewRegistry(cfg.Build)
	w, r := s.Pools()
	if err := telemetry.RegisterDBPools(reg, "tasks", w, r, s.Queries); err != nil {
		return err
	}
	proc, err := telemetry.NewProcess()
	if err != nil {
		return err
	}
	reg.MustRegister(proc)
	sampleCtx, stopSampling := context.WithCancel(context.Background())
	defer stopSampling()
	go proc.Run(sampleCtx, time.Second)

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	h := Handler(s, reg, log, cfg.MaxBody, faults)
	if cfg.Profiles {
		runtime.MemProfileRate = ProfileRate // before the requests whose allocations it samples
		runtime.SetBlockProfileRate(BlockProfileRate)
		h = WithProfiles(h)
	}
	srv := newServer(h, log, DefaultTimeouts)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	log.LogAttrs(ctx, slog.LevelInfo, "listening",
		slog.String("addr", ln.Addr().String()),
		slog.String("db", cfg.DB),
		slog.Int64("max_body", cfg.MaxBody),
		slog.String("faults", cfg.Fault.String()),
		slog.String("version", cfg.Build.Version),
		slog.String("revision", cfg.Build.Revision),
	)
	if ready != nil {
		ready(ln.Addr())
	}

	select {
	case err := <-served:
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}

	log.LogAttrs(context.Background(), slog.LevelInfo, "shutting down", slog.String("timeout", cfg.ShutdownTimeout.String()))
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
		<-served
		return fmt.Errorf("requests still running after %s, closed them: %w", cfg.ShutdownTimeout, err)
	}
	<-served
	log.LogAttrs(context.Background(), slog.LevelInfo, "requests drained")
	return nil
}
