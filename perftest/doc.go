// Package perftest is the performance-regression gate as a Go test. Another
// module runs it in one call from a test of its own:
//
//	func TestPerf(t *testing.T) { perftest.Test(t, "perf/slo.yaml") }
//
// The spec (see thresholds/slo.yaml) describes the service, its workload and
// its SLOs; Test builds the service, starts its replicas and Prometheus in
// containers, applies the load, compares with the baseline build and fails
// with one error per breached SLO. `go test ./perftest` here is exactly that
// call on thresholds/slo.yaml. See the README for settings and environment.
package perftest
