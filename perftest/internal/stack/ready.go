package stack

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go/wait"
)

// readiness waits until a replica's readiness path answers 2xx, and says
// what it got instead. An answer that will not change by waiting — the path
// answers 404, or nothing listens on the port while the service listens on
// another — fails after wrongFor, with the fix, instead of after the whole
// startup timeout.
type readiness struct {
	path     string // e.g. /readyz
	port     int    // the service's port inside the container
	metrics  string // a path that answers once the service serves (its metrics), offered as a fix
	timeout  time.Duration
	poll     time.Duration
	wrongFor time.Duration
}

// SpecError is a start that failed because the spec does not fit the
// service: the fix is in the spec (or the service), not in the machine.
type SpecError struct{ Msg string }

func (e *SpecError) Error() string { return e.Msg }

// wrongFor is how long a wrong answer must last before the wait gives up:
// long enough for a service that binds its port late or routes its probe
// after a moment, short enough that a typo costs seconds, not a minute.
const wrongFor = 3 * time.Second

func (r readiness) WaitUntilReady(ctx context.Context, target wait.StrategyTarget) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	host, err := target.Host(ctx)
	if err != nil {
		return err
	}
	mapped, err := target.MappedPort(ctx, fmt.Sprintf("%d/tcp", r.port))
	if err != nil {
		return err
	}
	base := fmt.Sprintf("http://%s:%s", host, mapped.Port())
	client := &http.Client{
		Timeout:       time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	var last string
	var since time.Time // when the current wrong answer began; zero when the answer is not wrong
	for {
		if st, err := target.State(ctx); err == nil && !st.Running {
			return fmt.Errorf("the service exited (code %d) before %s answered", st.ExitCode, r.path)
		}
		code, err := get(ctx, client, base+r.path)
		var wrong string
		switch {
		case err == nil && code/100 == 2:
			return nil
		case err == nil:
			last = fmt.Sprintf("GET %s answered %d %s", r.path, code, http.StatusText(code))
			if code/100 == 4 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests {
				wrong = last + ": " + r.pathFix(ctx, client, base)
			}
		case ctx.Err() != nil: // cut short by the deadline: the last answer stands
		default:
			last = fmt.Sprintf("GET %s on port %d: %v", r.path, r.port, err)
			open, local := listening(ctx, target)
			switch {
			case slices.Contains(open, r.port):
			case slices.Contains(local, r.port):
				wrong = fmt.Sprintf("the service listens on port %d on the container's loopback only, where no one outside reaches it: "+
					"make it listen on all interfaces (0.0.0.0:%d or :%d)", r.port, r.port, r.port)
			case len(open) > 0:
				wrong = fmt.Sprintf("nothing listens on port %d in the container; the service listens on %s: set service.port to %d",
					r.port, joinPorts(open), open[0])
			}
		}
		if wrong == "" {
			since = time.Time{}
		} else if since.IsZero() {
			since = time.Now()
		} else if time.Since(since) >= r.wrongFor {
			return &SpecError{wrong}
		}
		select {
		case <-ctx.Done():
			if last == "" {
				last = "no answer"
			}
			return fmt.Errorf("not ready after %s (service.ready %s, service.port %d): %s", r.timeout, r.path, r.port, last)
		case <-time.After(r.poll):
		}
	}
}

// healthPaths are where services commonly answer once they can serve, in
// the order pathFix tries them.
var healthPaths = []string{"/healthz", "/health", "/readyz", "/ready", "/livez", "/ping", "/status"}

// pathFix says what to set service.ready to when the readiness path does
// not exist: the first common health path the service answers 2xx on, or
// else its metrics path, when that answers.
func (r readiness) pathFix(ctx context.Context, client *http.Client, base string) string {
	const fix = "set service.ready to a path the service answers 2xx on once it can serve"
	for _, p := range append(healthPaths, r.metrics) {
		if p == "" || p == r.path {
			continue
		}
		if code, err := get(ctx, client, base+p); err == nil && code/100 == 2 {
			return fmt.Sprintf("%s; %s does", fix, p)
		}
	}
	return fix
}

func get(ctx context.Context, client *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// listening are the TCP ports the container's processes listen on, read
// from its network namespace through the host's /proc: on every interface
// (open) and on loopback only (local, where Docker's own DNS resolver
// listens too). Both nil when that cannot be read (not Linux, not root, a
// remote engine).
func listening(ctx context.Context, target wait.StrategyTarget) (open, local []int) {
	in, err := target.Inspect(ctx)
	if err != nil || in.State == nil || in.State.Pid == 0 {
		return nil, nil
	}
	for _, f := range []string{"tcp", "tcp6"} {
		o, l := listenPorts(fmt.Sprintf("/proc/%d/net/%s", in.State.Pid, f))
		open, local = append(open, o...), append(local, l...)
	}
	slices.Sort(open)
	slices.Sort(local)
	return slices.Compact(open), slices.Compact(local)
}

// listenPorts parses a /proc/net/tcp or tcp6 table: the local ports of the
// sockets in state LISTEN (0A), apart by whether they are bound to loopback.
func listenPorts(file string) (open, local []int) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[3] != "0A" {
			continue
		}
		addr, port, ok := strings.Cut(fields[1], ":")
		p, err := strconv.ParseUint(port, 16, 16)
		if !ok || err != nil {
			continue
		}
		if loopback(addr) {
			local = append(local, int(p))
		} else {
			open = append(open, int(p))
		}
	}
	return open, local
}

// loopback says whether a /proc/net/tcp address (hex, in host byte order
// per 32-bit word, as little-endian machines write it) is 127.0.0.0/8, ::1
// or ::ffff:127.x.
func loopback(hex string) bool {
	switch len(hex) {
	case 8:
		return strings.HasSuffix(hex, "7F")
	case 32:
		return hex == "00000000000000000000000001000000" ||
			strings.HasPrefix(hex, "0000000000000000FFFF0000") && strings.HasSuffix(hex, "7F")
	}
	return false
}

func joinPorts(ports []int) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ", ")
}
