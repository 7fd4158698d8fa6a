// Command tasksvc serves the instrumented task API that perfgate measures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/perfgate/perfgate/service/internal/api"
	"github.com/perfgate/perfgate/service/internal/app"
	"github.com/perfgate/perfgate/service/internal/store"
	"github.com/perfgate/perfgate/service/internal/telemetry"
)

// Set at build time with -ldflags "-X main.version=... -X main.revision=...";
// when empty, the binary's embedded build information is used.
var (
	version  string
	revision string
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "tasksvc:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, opts, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	if opts.version {
		_, err := fmt.Fprintf(stdout, "tasksvc %s %s %s\n", cfg.Build.Version, cfg.Build.Revision, cfg.Build.GoVersion)
		return err
	}
	out := stdout
	if opts.logFlush > 0 {
		lw := telemetry.NewLogWriter(stdout, opts.logFlush)
		defer lw.Close()
		out = lw
	}
	log := slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: opts.level})).
		With(slog.String("instance", cfg.Instance))
	if err := app.Run(ctx, cfg, log, nil); err != nil {
		log.LogAttrs(context.Background(), slog.LevelError, "exit", slog.String("error", err.Error()))
		return err
	}
	return nil
}

// logOptions are the settings that stay in main.
type logOptions struct {
	level    slog.Level
	logFlush time.Duration
	version  bool
}

// envName is the environment variable that sets a flag: -fault-cpu is
// TASKSVC_FAULT_CPU.
func envName(flagName string) string {
	return "TASKSVC_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseConfig reads flags over environment variables over defaults, and
// reports every invalid value at once.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (app.Config, logOptions, error) {
	hostname, err := os.Hostname()
	if err != nil || hostname == "" {
		hostname = "tasksvc"
	}
	cfg := app.Config{Build: telemetry.ReadBuildInfo(version, revision)}
	opts := logOptions{level: slog.LevelInfo}

	fs := flag.NewFlagSet("tasksvc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Addr, "addr", ":8080", "listen address")
	fs.StringVar(&cfg.DB, "db", "tasks.db", "SQLite database file; its directory must exist and be writable (WAL and shared-memory files live beside it)")
	fs.StringVar(&cfg.Instance, "instance", hostname, "instance name put on every log line")
	fs.Int64Var(&cfg.MaxBody, "max-body", api.DefaultMaxBody, "largest request body in bytes; larger bodies are answered 413")
	fs.TextVar(&opts.level, "log-level", slog.LevelInfo, "log level: debug, info, warn or error; info logs one line per request")
	fs.DurationVar(&opts.logFlush, "log-flush", 100*time.Millisecond, "how long log lines may wait to be written in a batch; 0 writes each line at once")
	fs.DurationVar(&cfg.BusyTimeout, "db-busy-timeout", store.DefaultOptions.BusyTimeout, "how long a write waits for another process's lock before answering 503")
	fs.IntVar(&cfg.Readers, "db-readers", 0, "read-only database connections; 0 means one per usable core (GOMAXPROCS)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 8*time.Second, "how long in-flight requests may run after SIGTERM")
	fs.DurationVar(&cfg.Fault.Latency, "fault-latency", 0, "fault injection: latency added to every /tasks request")
	fs.DurationVar(&cfg.Fault.Jitter, "fault-jitter", 0, "fault injection: extra random latency in [0, jitter)")
	fs.DurationVar(&cfg.Fault.CPU, "fault-cpu", 0, "fault injection: busy CPU work per /tasks request")
	fs.Float64Var(&cfg.Fault.ErrorRatio, "fault-error-ratio", 0, "fault injection: share of /tasks requests answered 500, 0..1")
	fs.Int64Var(&cfg.Fault.Leak, "fault-leak", 0, "fault injection: bytes retained (never freed) per /tasks request")
	fs.IntVar(&cfg.Fault.Allocs, "fault-allocs", 0, "fault injection: short-lived 64-byte heap allocations per /tasks request")
	fs.BoolVar(&cfg.Profiles, "pprof", false, "serve Go's profiles under /debug/pprof/ (for the gate's profiled rounds; keep it off a public network)")
	fs.BoolVar(&opts.version, "version", false, "print the build version and exit")
	fs.VisitAll(func(f *flag.Flag) { f.Usage += " [$" + envName(f.Name) + "]" })

	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		if v := getenv(name); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", name, v, err))
			}
		}
	})
	if err := fs.Parse(args); err != nil {
		return cfg, opts, err
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q: every setting is a flag such as -db=path", fs.Args()))
	}
	if cfg.Addr == "" {
		errs = append(errs, errors.New("-addr must not be empty"))
	}
	if cfg.DB == "" {
		errs = append(errs, errors.New("-db must not be empty"))
	}
	if cfg.Instance == "" {
		errs = append(errs, errors.New("-instance must not be empty"))
	}
	if cfg.MaxBody < 1 {
		errs = append(errs, fmt.Errorf("-max-body must be >= 1 byte, got %d", cfg.MaxBody))
	}
	if cfg.BusyTimeout <= 0 {
		errs = append(errs, fmt.Errorf("-db-busy-timeout must be > 0, got %s", cfg.BusyTimeout))
	}
	if cfg.Readers < 0 {
		errs = append(errs, fmt.Errorf("-db-readers must be >= 0, got %d", cfg.Readers))
	}
	if opts.logFlush < 0 {
		errs = append(errs, fmt.Errorf("-log-flush must be >= 0, got %s", opts.logFlush))
	}
	if cfg.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("-shutdown-timeout must be > 0, got %s", cfg.ShutdownTimeout))
	}
	if err := cfg.Fault.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, opts, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, opts, nil
}
