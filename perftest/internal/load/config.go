// Package load generates ramped open-model HTTP load from a workload of request templates and records what it saw.
package load

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/perfgate/perfgate/perftest/internal/shard"
	"github.com/perfgate/perfgate/perftest/internal/workload"
	"github.com/perfgate/perfgate/thresholds"
)

// Balance picks a target for each request.
type Balance int

const (
	// RoundRobin sends requests to the targets in turn.
	RoundRobin Balance = iota
	// LeastInFlight sends each request to the target with the fewest
	// outstanding requests, taking turns among ties so every target gets load.
	LeastInFlight
)

// Config describes one load run.
type Config struct {
	// Targets are base URLs of the service, e.g. "http://127.0.0.1:32768".
	// Only loopback hosts and those in Allow are accepted.
	Targets []string
	// Allow names hosts beyond loopback that Targets may hold: an existing
	// deployment the spec allows, under its rate cap. An entry is a host
	// name, an IP address or a CIDR (see thresholds.Allowed).
	Allow []string
	// Balance spreads requests over Targets.
	Balance Balance
	// Stages shape the arrival rate; see RampPacer.
	Stages []Stage
	// Burst, above 1, sends arrivals that many at once at the same mean
	// rate (see RampPacer.Burst); at most MaxInFlight.
	Burst int
	// WarmUp excludes requests intended before Start+WarmUp from the measured
	// figures; the timeline still shows them.
	WarmUp time.Duration
	// Workload is what to send: each arrival picks one of its templates by
	// weight. It is compiled once per run.
	Workload []thresholds.Template
	// MaxInFlight bounds outstanding requests; a request due while that many
	// are outstanding is dropped, not sent late. 0 means thresholds.DefaultLoad.MaxInFlight.
	MaxInFlight int
	// Timeout bounds each request. 0 means thresholds.DefaultLoad.Timeout.
	Timeout time.Duration
	// Seed makes the sequence of requests reproducible: the templates
	// picked, the pool values drawn and the random strings.
	Seed uint64
	// Shard, when set, sends only this generator's part of the schedule:
	// arrival k goes out from shard k mod Count. Every shard draws the
	// whole sequence (templates, pool values, random strings), so arrival k
	// is the same request however the run is split. Pools fill from the
	// shard's own responses. The zero value is the whole run.
	Shard shard.Plan
	// StartAt, when set, is the instant the intended send times count from,
	// the same for every shard of a run: the generator waits for it, or,
	// when it has passed, starts at once and drops what is overdue (counted
	// in Dropped, and said in Unsound), so the rate never exceeds the plan's.
	StartAt time.Time
	// OnTime, when set, is how late after its intended time a request may
	// leave and still be on time: Result.OnTime then holds the latency of
	// the measured requests that left on time, which a stall of the
	// generator, a few of whose requests it delays, does not move.
	OnTime time.Duration
	// Progress, when set, receives one line per second.
	Progress io.Writer
	// Client, when set, carries every request through net/http. By default
	// plain-HTTP targets get a fasthttp client per target with up to
	// MaxInFlight keep-alive connections, which costs a fraction of
	// net/http's CPU per request. It never retries, and it reads response
	// bodies whole, counting one over 4 MiB as a transport error. HTTPS
	// targets get a net/http Transport with MaxInFlight idle connections per
	// target and no proxy. Neither follows redirects: a 3xx is the
	// response, counted under its status like any other (Client's own
	// CheckRedirect is not used).
	Client *http.Client
}

// maxStartWait bounds how far ahead StartAt may be.
const maxStartWait = time.Hour

// maxInFlightLimit bounds MaxInFlight: each slot is a worker with its own
// request and response buffers, and a connection per target.
const maxInFlightLimit = 10_000

// target is a validated base URL.
type target struct {
	raw    string
	scheme string
	host   string // host:port
	prefix string // base path without trailing slash
}

// prepared is a Config with defaults applied and its targets parsed.
type prepared struct {
	Config
	targets []target
	pacer   RampPacer
	program *workload.Program
}

func (c Config) prepare() (prepared, error) {
	if c.MaxInFlight == 0 { // the spec's defaults: one set for every door and for direct callers
		c.MaxInFlight = thresholds.DefaultLoad.MaxInFlight
	}
	if c.Timeout == 0 {
		c.Timeout = thresholds.DefaultLoad.Timeout
	}
	p := prepared{Config: c, pacer: RampPacer{Stages: c.Stages, Burst: c.Burst}}

	var errs []error
	if len(c.Targets) == 0 {
		errs = append(errs, errors.New("Targets: at least one base URL is needed"))
	}
	for i, raw := range c.Targets {
		t, err := parseTarget(raw, c.Allow)
		if err != nil {
			errs = append(errs, fmt.Errorf("Targets[%d] %q: %w", i, thresholds.Redacted(raw), err))
			continue
		}
		p.targets = append(p.targets, t)
	}
	if c.Balance != RoundRobin && c.Balance != LeastInFlight {
		errs = append(errs, fmt.Errorf("Balance: unknown value %d", c.Balance))
	}
	errs = append(errs, p.pacer.validate()...)
	if c.WarmUp < 0 {
		errs = append(errs, fmt.Errorf("WarmUp: %s must not be negative", c.WarmUp))
	} else if d := p.pacer.Duration(); d > 0 && c.WarmUp >= d {
		errs = append(errs, fmt.Errorf("WarmUp: %s leaves nothing to measure of the %s of stages", c.WarmUp, d))
	}
	if len(c.Workload) == 0 {
		errs = append(errs, errors.New("Workload: at least one request template is needed"))
	} else if prog, err := workload.Compile(c.Workload); err != nil {
		var bad thresholds.Errors
		if !errors.As(err, &bad) {
			bad = thresholds.Errors{{Msg: err.Error()}}
		}
		for _, e := range bad {
			errs = append(errs, fmt.Errorf("Workload: %w", e))
		}
	} else {
		p.program = prog
	}
	if c.Shard == (shard.Plan{}) {
		p.Shard = shard.Whole
	} else if err := c.Shard.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("Shard: %w", err))
	}
	if !c.StartAt.IsZero() {
		switch ahead := time.Until(c.StartAt); {
		case ahead > maxStartWait:
			errs = append(errs, fmt.Errorf("StartAt: %s is %s from now, more than %s ahead", c.StartAt.Format(time.RFC3339), ahead.Round(time.Second), maxStartWait))
		case -ahead >= p.pacer.Duration():
			errs = append(errs, fmt.Errorf("StartAt: %s has passed: the %s of stages from it ended %s ago", c.StartAt.Format(time.RFC3339), p.pacer.Duration(), (-ahead-p.pacer.Duration()).Round(time.Second)))
		}
	}
	if c.MaxInFlight < 0 || c.MaxInFlight > maxInFlightLimit {
		errs = append(errs, fmt.Errorf("MaxInFlight: %d must be in 1..%d", c.MaxInFlight, maxInFlightLimit))
	}
	if c.Burst < 0 || c.Burst > max(c.MaxInFlight, 1) {
		errs = append(errs, fmt.Errorf("Burst: %d must be in 0..MaxInFlight (%d): a burst beyond the slots is dropped", c.Burst, c.MaxInFlight))
	}
	if c.OnTime < 0 {
		errs = append(errs, fmt.Errorf("OnTime: %s must be >= 0", c.OnTime))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("Timeout: %s must be > 0", c.Timeout))
	}
	if len(errs) > 0 {
		for i, err := range errs {
			errs[i] = fmt.Errorf("load: config: %w", err)
		}
		return prepared{}, &ConfigError{errors.Join(errs...)}
	}
	return p, nil
}

// ConfigError is a Config that cannot be run; nothing was sent.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// plainHTTP tells whether every target speaks plain HTTP, which the
// fasthttp path serves.
func (p prepared) plainHTTP() bool {
	for _, t := range p.targets {
		if t.scheme != "http" {
			return false
		}
	}
	return true
}

func parseTarget(raw string, allow []string) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error // which would print raw whole
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return target{}, fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return target{}, errors.New("scheme must be http or https")
	}
	host := u.Hostname()
	if host == "" {
		return target{}, errors.New("no host")
	}
	if !thresholds.Allowed(host, allow) {
		return target{}, fmt.Errorf("host %q is not loopback and not allowed: load goes only to 127.0.0.0/8, ::1, localhost and the hosts and CIDRs in Allow", host)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return target{}, errors.New("a base URL takes no query, fragment or user info")
	}
	return target{raw: raw, scheme: u.Scheme, host: u.Host, prefix: strings.TrimRight(u.Path, "/")}, nil
}
