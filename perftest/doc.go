// Package perftest is the regression gate as a Go test: `go test ./perftest`
// builds the service, starts two replicas and Prometheus in containers,
// applies the load of thresholds/slo.yaml and fails with one error per
// breached SLO. See the README for flags and environment variables.
package perftest
