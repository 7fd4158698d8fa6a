package k8s

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const spec = "version: 1\nload:\n  stages:\n    - {duration: 60s, rate: 600}\n"

// good renders; each test changes one field of it.
func good() Options {
	return Options{
		Name:         "checkout-perf",
		Namespace:    "perf",
		Image:        "registry.example/perfgate:v1.4.0",
		Shards:       3,
		SpecYAML:     []byte(spec),
		StartAt:      time.Date(2026, 12, 2, 16, 0, 0, 123456789, time.FixedZone("CET", 3600)),
		ResultsClaim: "perf-results",
		Deadline:     10*time.Minute + 500*time.Millisecond,
	}
}

// decode splits rendered YAML into a ConfigMap and a Job, decoding each
// strictly: a field the k8s.io/api types do not have fails the test.
func decode(t *testing.T, b []byte) (*corev1.ConfigMap, *batchv1.Job) {
	t.Helper()
	docs := strings.Split(string(b), "\n---\n")
	require.Len(t, docs, 2, "a ConfigMap and a Job")
	var cm corev1.ConfigMap
	require.NoError(t, yaml.UnmarshalStrict([]byte(docs[0]), &cm))
	var job batchv1.Job
	require.NoError(t, yaml.UnmarshalStrict([]byte(docs[1]), &job))
	return &cm, &job
}

func TestRenderGolden(t *testing.T) {
	got, err := Render(good())
	require.NoError(t, err)
	golden := filepath.Join("testdata", "checkout-perf.golden.yaml")
	if *update {
		require.NoError(t, os.WriteFile(golden, got, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test -update to write it")
	assert.Equal(t, string(want), string(got), "rendering changed: check the diff, then go test ./perftest/internal/k8s -update")
}

func TestRenderDecodesStrictly(t *testing.T) {
	out, err := Render(good())
	require.NoError(t, err)
	// The decoding is strict: a field of no k8s.io/api type fails it.
	var job batchv1.Job
	assert.ErrorContains(t, yaml.UnmarshalStrict([]byte("apiVersion: batch/v1\nkind: Job\nspec:\n  shards: 3\n"), &job), `unknown field "shards"`)

	cm, j := decode(t, out)
	labels := map[string]string{"app.kubernetes.io/name": "perfgate", "app.kubernetes.io/instance": "checkout-perf", "app.kubernetes.io/component": "load"}

	t.Run("the ConfigMap holds the spec", func(t *testing.T) {
		assert.Equal(t, metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, cm.TypeMeta)
		assert.Equal(t, "checkout-perf-spec", cm.Name)
		assert.Equal(t, "perf", cm.Namespace)
		assert.Equal(t, labels, cm.Labels)
		assert.Equal(t, map[string]string{"slo.yaml": spec}, cm.Data, "byte for byte")
	})

	t.Run("an Indexed Job of one pod per shard, all at once, none retried", func(t *testing.T) {
		assert.Equal(t, metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"}, j.TypeMeta)
		assert.Equal(t, "checkout-perf", j.Name)
		assert.Equal(t, "perf", j.Namespace)
		s := j.Spec
		require.NotNil(t, s.CompletionMode)
		assert.Equal(t, batchv1.IndexedCompletion, *s.CompletionMode)
		assert.Equal(t, ptr(int32(3)), s.Completions)
		assert.Equal(t, ptr(int32(3)), s.Parallelism)
		assert.Equal(t, ptr(int32(0)), s.BackoffLimit)
		assert.Equal(t, ptr(int64(601)), s.ActiveDeadlineSeconds, "the deadline rounded up to whole seconds")
		assert.Equal(t, corev1.RestartPolicyNever, s.Template.Spec.RestartPolicy)
		assert.Equal(t, labels, s.Template.Labels)
	})

	pod := j.Spec.Template.Spec
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]

	t.Run("each pod runs its shard from the agreed start", func(t *testing.T) {
		assert.Equal(t, "registry.example/perfgate:v1.4.0", c.Image)
		assert.Equal(t, []string{"perfgate"}, c.Command)
		assert.Equal(t, []string{
			"load", "--shard", "$(JOB_COMPLETION_INDEX)/3",
			"--start", "2026-12-02T15:00:00.123456789Z",
			"-f", "/spec/slo.yaml",
			"-out", "/results/shard-$(JOB_COMPLETION_INDEX).json",
		}, c.Args)
		require.Len(t, c.Env, 1)
		assert.Equal(t, "JOB_COMPLETION_INDEX", c.Env[0].Name)
		require.NotNil(t, c.Env[0].ValueFrom)
		require.NotNil(t, c.Env[0].ValueFrom.FieldRef)
		assert.Equal(t, "metadata.annotations['batch.kubernetes.io/job-completion-index']", c.Env[0].ValueFrom.FieldRef.FieldPath)
		start, err := time.Parse(time.RFC3339Nano, c.Args[4])
		require.NoError(t, err)
		assert.True(t, start.Equal(good().StartAt), "the instant, to the nanosecond")
	})

	t.Run("the spec and the results are mounted", func(t *testing.T) {
		assert.Equal(t, []corev1.VolumeMount{
			{Name: "spec", MountPath: "/spec", ReadOnly: true},
			{Name: "results", MountPath: "/results"},
		}, c.VolumeMounts)
		require.Len(t, pod.Volumes, 2)
		assert.Equal(t, "spec", pod.Volumes[0].Name)
		require.NotNil(t, pod.Volumes[0].ConfigMap)
		assert.Equal(t, cm.Name, pod.Volumes[0].ConfigMap.Name)
		assert.Equal(t, "results", pod.Volumes[1].Name)
		require.NotNil(t, pod.Volumes[1].PersistentVolumeClaim)
		assert.Equal(t, "perf-results", pod.Volumes[1].PersistentVolumeClaim.ClaimName)
	})

	t.Run("shards spread over nodes", func(t *testing.T) {
		require.Len(t, pod.TopologySpreadConstraints, 1)
		tsc := pod.TopologySpreadConstraints[0]
		assert.Equal(t, "kubernetes.io/hostname", tsc.TopologyKey)
		assert.EqualValues(t, 1, tsc.MaxSkew)
		assert.Equal(t, corev1.DoNotSchedule, tsc.WhenUnsatisfiable)
		require.NotNil(t, tsc.LabelSelector)
		assert.Equal(t, labels, tsc.LabelSelector.MatchLabels, "the pod template's labels: it selects the Job's own pods")
	})

	t.Run("guaranteed resources", func(t *testing.T) {
		one, mem := resource.MustParse("1"), resource.MustParse("512Mi")
		assert.Equal(t, corev1.ResourceList{corev1.ResourceCPU: one, corev1.ResourceMemory: mem}, c.Resources.Requests)
		assert.Equal(t, corev1.ResourceList{corev1.ResourceCPU: one, corev1.ResourceMemory: mem}, c.Resources.Limits)
	})

	t.Run("not root, no privileges", func(t *testing.T) {
		psc := pod.SecurityContext
		require.NotNil(t, psc)
		assert.Equal(t, ptr(true), psc.RunAsNonRoot)
		assert.Equal(t, ptr(int64(65532)), psc.RunAsUser)
		assert.Equal(t, ptr(int64(65532)), psc.FSGroup, "the shards can write to the claim")
		require.NotNil(t, psc.SeccompProfile)
		assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, psc.SeccompProfile.Type)
		csc := c.SecurityContext
		require.NotNil(t, csc)
		assert.Equal(t, ptr(false), csc.AllowPrivilegeEscalation)
		assert.Equal(t, ptr(true), csc.ReadOnlyRootFilesystem)
		require.NotNil(t, csc.Capabilities)
		assert.Equal(t, []corev1.Capability{"ALL"}, csc.Capabilities.Drop)
		assert.Equal(t, ptr(false), pod.AutomountServiceAccountToken)
	})
}

func TestRenderOptions(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Options)
		check func(t *testing.T, cm *corev1.ConfigMap, j *batchv1.Job)
	}{
		{
			name: "no namespace leaves it to kubectl",
			edit: func(o *Options) { o.Namespace = "" },
			check: func(t *testing.T, cm *corev1.ConfigMap, j *batchv1.Job) {
				assert.Empty(t, cm.Namespace)
				assert.Empty(t, j.Namespace)
			},
		},
		{
			name: "resources of one's own, memory unlimited",
			edit: func(o *Options) { o.Resources = Resources{CPURequest: "500m", CPULimit: "2", MemoryRequest: "1Gi"} },
			check: func(t *testing.T, _ *corev1.ConfigMap, j *batchv1.Job) {
				r := j.Spec.Template.Spec.Containers[0].Resources
				assert.Equal(t, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi")}, r.Requests)
				assert.Equal(t, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}, r.Limits)
			},
		},
		{
			name: "a results directory of one's own",
			edit: func(o *Options) { o.ResultsDir = "/var/perfgate/out" },
			check: func(t *testing.T, _ *corev1.ConfigMap, j *batchv1.Job) {
				c := j.Spec.Template.Spec.Containers[0]
				assert.Equal(t, "/var/perfgate/out/shard-$(JOB_COMPLETION_INDEX).json", c.Args[len(c.Args)-1])
				assert.Equal(t, "/var/perfgate/out", c.VolumeMounts[1].MountPath)
			},
		},
		{
			name: "a thousand shards",
			edit: func(o *Options) { o.Shards = 1000 },
			check: func(t *testing.T, _ *corev1.ConfigMap, j *batchv1.Job) {
				assert.Equal(t, ptr(int32(1000)), j.Spec.Completions)
				assert.Equal(t, ptr(int32(1000)), j.Spec.Parallelism)
				assert.Equal(t, "$(JOB_COMPLETION_INDEX)/1000", j.Spec.Template.Spec.Containers[0].Args[2])
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good()
			tt.edit(&o)
			out, err := Render(o)
			require.NoError(t, err)
			cm, j := decode(t, out)
			tt.check(t, cm, j)
		})
	}
}

func TestRenderRejects(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Options)
		err  string
	}{
		{
			name: "no shards",
			edit: func(o *Options) { o.Shards = 0 },
			err:  "k8s: shards: 0 is out of range 1 to 1000",
		},
		{
			name: "too many shards",
			edit: func(o *Options) { o.Shards = 1001 },
			err:  "k8s: shards: 1001 is out of range 1 to 1000",
		},
		{
			name: "no image",
			edit: func(o *Options) { o.Image = "" },
			err:  "k8s: image: missing: name an image with perfgate on its PATH",
		},
		{
			name: "an image with a space",
			edit: func(o *Options) { o.Image = "perfgate v1" },
			err:  `k8s: image "perfgate v1": must not contain spaces`,
		},
		{
			name: "a name in capitals",
			edit: func(o *Options) { o.Name = "Checkout" },
			err: `k8s: name "Checkout": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', ` +
				`and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
		},
		{
			name: "no name",
			edit: func(o *Options) { o.Name = "" },
			err: `k8s: name "": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', ` +
				`and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
		},
		{
			name: "a name that leaves no room for the index",
			edit: func(o *Options) { o.Name = strings.Repeat("a", 61); o.Shards = 11 },
			err:  `k8s: name "` + strings.Repeat("a", 61) + `": 64 characters with the shard index, at most 63 fit in a pod's hostname`,
		},
		{
			name: "a bad namespace",
			edit: func(o *Options) { o.Namespace = "perf.team" },
			err:  `k8s: namespace "perf.team": must not contain dots`,
		},
		{
			name: "no spec",
			edit: func(o *Options) { o.SpecYAML = []byte(" \n") },
			err:  "k8s: spec: empty",
		},
		{
			name: "a spec too big for a ConfigMap",
			edit: func(o *Options) { o.SpecYAML = make([]byte, 1<<20+1); o.SpecYAML[0] = 'a' },
			err:  "k8s: spec: 1048577 bytes, more than the 1048576 a ConfigMap holds",
		},
		{
			name: "a spec that is not text",
			edit: func(o *Options) { o.SpecYAML = []byte("version: \xff\n") },
			err:  "k8s: spec: not UTF-8 text",
		},
		{
			name: "no start",
			edit: func(o *Options) { o.StartAt = time.Time{} },
			err:  "k8s: start: missing: the instant every shard starts at",
		},
		{
			name: "no deadline",
			edit: func(o *Options) { o.Deadline = 0 },
			err:  "k8s: deadline: 0s: must be above 0 (the wait for the start, the run and writing the results)",
		},
		{
			name: "no results claim",
			edit: func(o *Options) { o.ResultsClaim = "" },
			err:  "k8s: results claim: missing: name a PersistentVolumeClaim every shard can write to (ReadWriteMany across nodes)",
		},
		{
			name: "a results claim that is no name",
			edit: func(o *Options) { o.ResultsClaim = "Results" },
			err: `k8s: results claim "Results": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', ` +
				`and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
		},
		{
			name: "a relative results dir",
			edit: func(o *Options) { o.ResultsDir = "results" },
			err:  `k8s: results dir "results": must be a clean absolute path other than / and /spec`,
		},
		{
			name: "results over the spec",
			edit: func(o *Options) { o.ResultsDir = "/spec/out" },
			err:  `k8s: results dir "/spec/out": must be a clean absolute path other than / and /spec`,
		},
		{
			name: "a quantity that is none",
			edit: func(o *Options) { o.Resources = Resources{CPURequest: "one", MemoryLimit: "-1Gi"} },
			err:  `k8s: resources: cpu request "one" is not a quantity (as in 500m, 2 or 512Mi); resources: memory limit -1Gi is negative`,
		},
		{
			name: "a request above its limit",
			edit: func(o *Options) { o.Resources = Resources{CPURequest: "2", CPULimit: "1500m"} },
			err:  "k8s: resources: cpu request 2 is above its limit 1500m",
		},
		{
			name: "every problem at once",
			edit: func(o *Options) { o.Image, o.Shards, o.Deadline = "", -1, -time.Second },
			err:  "k8s: image: missing: name an image with perfgate on its PATH; shards: -1 is out of range 1 to 1000; deadline: -1s: must be above 0 (the wait for the start, the run and writing the results)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good()
			tt.edit(&o)
			out, err := Render(o)
			require.EqualError(t, err, tt.err)
			assert.Nil(t, out)
		})
	}
}
