package load

import (
	"slices"
	"testing"

	"github.com/perfgate/perfgate/thresholds"
	"github.com/stretchr/testify/require"
)

// committedSpec is the spec the gate runs, whose workload is the task API's.
const committedSpec = "../../../thresholds/" + thresholds.DefaultFile

// committed is the workload of the committed spec.
func committed(t testing.TB) []thresholds.Template {
	t.Helper()
	s, err := thresholds.ParseFile(committedSpec)
	require.NoError(t, err)
	return s.Workload
}

// tasks is the committed workload with the weights of list, get, create,
// update and delete given in that order.
func tasks(t testing.TB, weights ...int) []thresholds.Template {
	t.Helper()
	w := slices.Clone(committed(t))
	require.Len(t, w, len(weights))
	for i, name := range []string{"list", "get", "create", "update", "delete"} {
		require.Equal(t, name, w[i].Name)
		w[i].Weight = weights[i]
	}
	return w
}

// listOnly sends GET /tasks?limit=20 and nothing else: the request the
// benchmarks send with vegeta too.
var listOnly = []thresholds.Template{{Name: "list", Weight: 1, Method: "GET", Path: "/tasks?limit=20"}}
