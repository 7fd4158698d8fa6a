package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/perfgate/perfgate/perftest/internal/compare"
	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds/units"
)

// JUnit renders junit.xml: one testsuite "perfgate" with a testcase per check,
// failing on a breach or missing data, erroring on a wiring error, plus a
// testcase "generator" that fails when the run is inconclusive.
func JUnit(r Run) Reporter {
	return func(w io.Writer) error {
		if _, err := io.WriteString(w, xml.Header); err != nil {
			return err
		}
		enc := xml.NewEncoder(w)
		enc.Indent("", "  ")
		if err := enc.Encode(toJUnit(r)); err != nil {
			return err
		}
		_, err := io.WriteString(w, "\n")
		return err
	}
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure"`
	Error     *junitProblem `xml:"error"`
	SystemOut *junitText    `xml:"system-out"`
}

// junitText is CDATA, so PromQL stays readable in the raw file.
type junitText struct {
	Text string `xml:",cdata"`
}

func systemOut(s string) *junitText {
	if s == "" {
		return nil
	}
	return &junitText{s}
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"`
}

const noChecks = "no checks were run: a gate with nothing to check cannot pass"

func toJUnit(r Run) junitSuites {
	elapsed := "0"
	if !r.Started.IsZero() && r.Finished.After(r.Started) {
		elapsed = fmt.Sprintf("%.3f", r.Finished.Sub(r.Started).Seconds())
	}
	suite := junitSuite{
		Name: "perfgate",
		Time: elapsed,
		Properties: []junitProperty{
			{"title", r.Title},
			{"verdict", string(r.Decision.Verdict)},
			{"reason", overallReason(r)},
			{"service", strings.TrimSpace(r.Service + " " + strings.Join(r.ServiceArgs, " "))},
			{"prometheus", r.Prometheus},
			{"window", window(r)},
		},
	}
	if !r.Started.IsZero() {
		suite.Timestamp = r.Started.UTC().Format("2006-01-02T15:04:05")
	}

	names := caseNames(r.Result.Checks)
	for i, c := range r.Result.Checks {
		tc := junitCase{Name: names[i], Classname: "perfgate", Time: "0", SystemOut: systemOut(c.Query)}
		if c.Metric != "" {
			tc.Classname += "." + string(c.Metric)
		}
		problem := &junitProblem{
			Message: c.Why,
			Type:    string(c.Status),
			Text:    fmt.Sprintf("%s\nobserved: %s\nlimit: %s\n", c.Why, observed(c), limit(c, "<=", ">=")),
		}
		switch c.Status {
		case verdict.StatusPass:
		case verdict.StatusError:
			tc.Error = problem
			suite.Errors++
		default:
			tc.Failure = problem
			suite.Failures++
		}
		suite.Cases = append(suite.Cases, tc)
	}

	l := r.Result.Load
	gen := junitCase{
		Name:      "generator",
		Classname: "perfgate",
		Time:      "0",
		SystemOut: systemOut(fmt.Sprintf("target %s, achieved %s, allowed lag %s, sent %d, dropped %d",
			rate(l.TargetRate), rate(l.AchievedRate), units.Ratio.Format(l.MaxLag), l.Sent, l.Dropped)),
	}
	if r.Result.Verdict == verdict.Inconclusive {
		gen.Failure = &junitProblem{Message: r.Result.Reason, Type: string(verdict.Inconclusive), Text: r.Result.Reason + "\n"}
		suite.Failures++
	}
	suite.Cases = append(suite.Cases, gen)

	// A run without checks must not read as green in a CI test view.
	if len(r.Result.Checks) == 0 {
		suite.Cases = append(suite.Cases, junitCase{
			Name: "checks", Classname: "perfgate", Time: "0",
			Failure: &junitProblem{Message: noChecks, Type: "no_data", Text: noChecks + "\n"},
		})
		suite.Failures++
	}
	suite.Tests = len(suite.Cases)

	title := r.Title
	if title == "" {
		title = "perfgate"
	}
	out := junitSuites{
		Name: title, Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors, Time: suite.Time,
		Suites: []junitSuite{suite},
	}
	if r.Comparison != nil {
		cs := compareSuite(r)
		cs.Time, cs.Timestamp = suite.Time, suite.Timestamp
		out.Tests += cs.Tests
		out.Failures += cs.Failures
		out.Suites = append(out.Suites, cs)
	}
	return out
}

const noMetrics = "no metrics were compared: a comparison with nothing to compare cannot pass"

// compareSuite is the testsuite "compare": a testcase per compared metric, failing
// when it is worse beyond its budget or inconclusive (never a pass).
func compareSuite(r Run) junitSuite {
	c := r.Comparison
	suite := junitSuite{
		Name: "compare",
		Properties: []junitProperty{
			{"verdict", string(c.Verdict)},
			{"reason", c.Reason},
			{"baseline", r.Baseline},
			{"alpha", fmt.Sprint(c.Alpha)},
		},
	}
	for _, row := range c.Rows {
		tc := junitCase{
			Name: row.Metric, Classname: "perfgate.compare", Time: "0",
			SystemOut: systemOut(fmt.Sprintf("baseline %s, candidate %s, delta %s, %s %s, p %s, budget %s: %s",
				median(row.Baseline, row.Unit), median(row.Candidate, row.Unit), delta(row), confidence(c.Alpha),
				ci(row), pValue(row), budget(row), row.Status)),
		}
		if row.Fail || row.Status == compare.Inconclusive {
			tc.Failure = &junitProblem{Message: row.Why, Type: string(row.Status), Text: row.Why + "\n"}
			suite.Failures++
		}
		suite.Cases = append(suite.Cases, tc)
	}
	if len(c.Rows) == 0 {
		suite.Cases = append(suite.Cases, junitCase{
			Name: "metrics", Classname: "perfgate.compare", Time: "0",
			Failure: &junitProblem{Message: noMetrics, Type: "no_data", Text: noMetrics + "\n"},
		})
		suite.Failures++
	}
	suite.Tests = len(suite.Cases)
	return suite
}
