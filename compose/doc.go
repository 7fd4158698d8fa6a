// Package compose checks that the local observability stack (compose file, Prometheus config, Grafana provisioning and dashboard) agrees with itself and queries only metrics the service really exports.
package compose
