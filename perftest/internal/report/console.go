package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Console renders the checks as an aligned table, then the verdict, the
// client's view and the phases, for a terminal or a test log.
func Console(r Run) Reporter {
	return func(w io.Writer) error {
		ew := &errWriter{w: w}
		title := r.Title
		if title == "" {
			title = "perfgate"
		}
		fmt.Fprintf(ew, "%s\n\n", title)

		tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tINSTANCE\tOBSERVED\tLIMIT\tSTATUS\tWHY")
		for _, c := range r.Result.Checks {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n",
				c.Name, instance(c), observed(c), limit(c, "<=", ">="), statusWord(c.Status), oneLine(c.Why))
		}
		if len(r.Result.Checks) == 0 {
			fmt.Fprintln(tw, "(no checks)\t\t\t\t\t")
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if r.Comparison != nil {
			if err := consoleComparison(ew, r); err != nil {
				return err
			}
		}

		c := r.Client
		fmt.Fprintf(ew, "\n%s\n", overallHeadline(r))
		if r.Comparison == nil {
			fmt.Fprintf(ew, "  reason   %s\n", oneLine(r.Result.Reason))
		} else {
			fmt.Fprintf(ew, "  slos     %s\n", oneLine(r.Result.Reason))
			fmt.Fprintf(ew, "  compare  %s\n", oneLine(r.Comparison.Reason))
			for _, why := range r.Comparison.Reruns {
				fmt.Fprintf(ew, "  re-run   %s\n", oneLine(why))
			}
			for _, d := range r.Profiles {
				for _, line := range d.Text() {
					fmt.Fprintf(ew, "  why      %s%s: %s\n", d.Metric, d.notWorse(), oneLine(line))
				}
				if d.Command != "" {
					fmt.Fprintf(ew, "           %s\n", d.Command)
				}
			}
			for _, n := range r.Noise {
				fmt.Fprintf(ew, "  noise    %s\n", oneLine(noiseLine(n, r.Comparison.Rows)))
			}
		}
		fmt.Fprintf(ew, "  client   %d sent, %d ok, %d errors (%s), %d dropped; %s of %s target\n",
			c.Sent, c.OK, c.Errors, share(c.Errors, c.Sent), c.Dropped, rate(c.AchievedRate), rate(c.TargetRate))
		fmt.Fprintf(ew, "  latency  p50 %s, p95 %s, p99 %s, max %s (client, from intended send time)\n",
			dur(c.P50), dur(c.P95), dur(c.P99), dur(c.Max))
		if len(c.ByStatus) > 0 {
			fmt.Fprintf(ew, "  status   %s\n", statuses(c.ByStatus, ": "))
		}
		for _, ts := range c.ByTemplate {
			if ts.Count == 0 {
				fmt.Fprintf(ew, "  request  %-10s %6d sent\n", ts.Name, ts.Count)
			} else {
				fmt.Fprintf(ew, "  request  %-10s %6d sent, %d errors (%s); p50 %s, p95 %s, p99 %s\n",
					ts.Name, ts.Count, ts.Errors, share(ts.Errors, ts.Count), dur(ts.P50), dur(ts.P95), dur(ts.P99))
			}
			for _, note := range ts.Notes() {
				fmt.Fprintf(ew, "           %-10s %s\n", "", note)
			}
		}
		fmt.Fprintf(ew, "  window   %s\n", window(r))
		if r.Service != "" {
			svc := r.Service
			if len(r.ServiceArgs) > 0 {
				svc += " " + strings.Join(r.ServiceArgs, " ")
			}
			fmt.Fprintf(ew, "  service  %s\n", svc)
		}
		if r.Baseline != "" {
			fmt.Fprintf(ew, "  baseline %s\n", oneLine(r.Baseline))
		}
		if r.Prometheus != "" {
			fmt.Fprintf(ew, "  prom     %s\n", r.Prometheus)
		}
		if len(r.Phases) > 0 {
			parts := make([]string, len(r.Phases))
			for i, p := range r.Phases {
				parts[i] = p.Name + " " + dur(p.Duration)
			}
			fmt.Fprintf(ew, "  phases   %s; total %s\n", strings.Join(parts, ", "), dur(totalPhases(r.Phases)))
		}
		return ew.err
	}
}

// errWriter keeps the first write error so rendering code can stay linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
