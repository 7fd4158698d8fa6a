package promq

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/thresholds"
)

// exporting is a store holding the given metric names, each with labels.
func exporting(t *testing.T, series map[string][]string) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		var data []string
		switch {
		case r.URL.Path == "/api/v1/label/__name__/values":
			for name := range series {
				data = append(data, name)
			}
		case r.URL.Path == "/api/v1/labels":
			name, _, _ := strings.Cut(r.Form.Get("match[]"), "{")
			data = append([]string{"__name__", "instance", "job"}, series[name]...)
		default:
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": data})
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL)
	require.NoError(t, err)
	return c
}

func TestNeedsAreTheSeriesTheMetricsRead(t *testing.T) {
	got := DefaultSeries.Needs(string(thresholds.Latency), string(thresholds.ErrorRate), thresholds.CompareAllocs, string(thresholds.Custom))
	var names []string
	for _, n := range got {
		names = append(names, n.Name)
	}
	assert.Equal(t, []string{"tasksvc_http_request_duration_seconds_bucket", "tasksvc_http_requests_total", "go_memstats_mallocs_total"}, names,
		"each once; a custom query needs nothing known")
	noAllocs := DefaultSeries
	noAllocs.Allocs = ""
	assert.Empty(t, noAllocs.Needs(thresholds.CompareAllocs), "a service without the counter: no data, not a wrong name")
}

func TestMissingNamesTheFieldAndTheClosestExportedNames(t *testing.T) {
	c := exporting(t, map[string][]string{
		"http_requests_total":                  {"method", "path", "status"},
		"http_request_duration_seconds_bucket": {"le"},
		"process_cpu_seconds_total":            nil,
		"go_memstats_mallocs_total":            nil,
	})
	s := DefaultSeries
	s.Requests = "http_requests_total"
	missing, err := c.Missing(context.Background(), s, s.Needs(string(thresholds.Latency), string(thresholds.ErrorRate)), time.Unix(0, 0), time.Unix(60, 0))
	require.NoError(t, err)
	require.Len(t, missing, 3)
	assert.Equal(t, "service.metrics.duration: the service exports no tasksvc_http_request_duration_seconds_bucket; "+
		"closest it exports: http_request_duration_seconds_bucket, http_requests_total, process_cpu_seconds_total", missing[0])
	assert.Contains(t, missing[1], `service.metrics.labels.code: http_requests_total has no label "code"; its labels: __name__, instance, job, method, path, status`)
	assert.Contains(t, missing[2], `service.metrics.labels.route: http_requests_total has no label "route"`)
}

func TestMissingIsEmptyWhenEveryNeedIsMet(t *testing.T) {
	c := exporting(t, map[string][]string{
		"tasksvc_http_requests_total":                  {"method", "route", "code"},
		"tasksvc_http_request_duration_seconds_bucket": {"le", "route"},
	})
	missing, err := c.Missing(context.Background(), DefaultSeries, DefaultSeries.Needs(string(thresholds.Latency), string(thresholds.Throughput)), time.Unix(0, 0), time.Unix(60, 0))
	require.NoError(t, err)
	assert.Empty(t, missing)
}
