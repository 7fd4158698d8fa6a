// Package k8s renders the Kubernetes objects of a sharded load run: a
// ConfigMap holding the spec and an Indexed Job that runs one shard per pod.
//
// Each pod runs `perfgate load --shard i/N --start <instant>` against the
// spec mounted from the ConfigMap and writes its result to
// <ResultsDir>/shard-<i>.json on the PersistentVolumeClaim ResultsClaim,
// which every shard mounts, so it must be ReadWriteMany when the shards
// land on several nodes. To collect the results once the Job is done, run a
// pod that mounts the same claim and copy the files out of it with
// `kubectl cp`; then `perfgate merge` judges the run once. A shard with no
// file makes the merge incomplete, so the run inconclusive.
package k8s

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// Options say what to render.
type Options struct {
	// Name names the Job; the ConfigMap is Name + "-spec". Namespace may be
	// empty: kubectl then applies to its current namespace.
	Name, Namespace string
	// Image holds the perfgate binary on its PATH.
	Image string
	// Shards is the number of shards, run at once, one per pod.
	Shards int
	// SpecYAML is the spec every shard runs, as written in slo.yaml.
	SpecYAML []byte
	// StartAt is the instant every shard starts its part of the schedule at;
	// leave the pods time to be scheduled and pull the image before it.
	StartAt time.Time
	// Resources of each shard; the zero value means DefaultResources.
	Resources Resources
	// ResultsDir is where the results claim is mounted and the shards write;
	// empty means DefaultResultsDir.
	ResultsDir string
	// ResultsClaim names the PersistentVolumeClaim the shards write to.
	ResultsClaim string
	// Deadline bounds the Job from its start: the wait for StartAt, the run
	// and writing the results. Past it Kubernetes stops every shard.
	Deadline time.Duration
}

// Resources are the compute resources of one shard, as Kubernetes
// quantities ("500m", "2", "512Mi"); an empty one is left unset.
type Resources struct {
	CPURequest, CPULimit, MemoryRequest, MemoryLimit string
}

var (
	// MinMemory is the least memory a shard is given: its histograms and
	// connections need it.
	MinMemory = resource.MustParse("128Mi")
	// DefaultResources give each shard one whole core, requested as much as
	// limited: the pod is then in the Guaranteed class, and a generator
	// throttled by its CPU limit would add its own lag to every latency.
	DefaultResources = Resources{CPURequest: "1", CPULimit: "1", MemoryRequest: "512Mi", MemoryLimit: "512Mi"}
	// DefaultResultsDir is where the shards write when ResultsDir is empty.
	DefaultResultsDir = "/results"
)

const (
	// MaxShards bounds Options.Shards.
	MaxShards = 1000
	// specDir is where the ConfigMap is mounted, specKey the spec's key in it.
	specDir = "/spec"
	specKey = "slo.yaml"
	// maxConfigMap is the most a ConfigMap holds.
	maxConfigMap = 1 << 20
	// nonRoot is the user and group the shards run as.
	nonRoot = 65532
	// indexEnv is the variable an Indexed Job's pods find their index in.
	indexEnv = "JOB_COMPLETION_INDEX"
)

// Render returns the ConfigMap and the Job for o as YAML documents, ready
// for kubectl apply -f.
func Render(o Options) ([]byte, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	for i, obj := range []any{configMap(o), job(o)} {
		b, err := yaml.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("k8s: %w", err)
		}
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(b)
	}
	return out.Bytes(), nil
}

// withDefaults fills in the defaults and says everything wrong with o.
func (o Options) withDefaults() (Options, error) {
	if o.Resources == (Resources{}) {
		o.Resources = DefaultResources
	}
	if o.ResultsDir == "" {
		o.ResultsDir = DefaultResultsDir
	}
	var bad []string
	add := func(format string, a ...any) { bad = append(bad, fmt.Sprintf(format, a...)) }
	if errs := validation.IsDNS1123Label(o.Name); len(errs) > 0 {
		add("name %q: %s", o.Name, strings.Join(errs, "; "))
	} else if o.Shards >= 1 {
		// Each pod's hostname is the Job's name, a dash and the index.
		if longest := len(o.Name) + 1 + len(strconv.Itoa(o.Shards-1)); longest > validation.DNS1123LabelMaxLength {
			add("name %q: %d characters with the shard index, at most %d fit in a pod's hostname", o.Name, longest, validation.DNS1123LabelMaxLength)
		}
	}
	if o.Namespace != "" {
		if errs := validation.IsDNS1123Label(o.Namespace); len(errs) > 0 {
			add("namespace %q: %s", o.Namespace, strings.Join(errs, "; "))
		}
	}
	switch {
	case o.Image == "":
		add("image: missing: name an image with perfgate on its PATH")
	case strings.ContainsAny(o.Image, " \t\n"):
		add("image %q: must not contain spaces", o.Image)
	}
	if o.Shards < 1 || o.Shards > MaxShards {
		add("shards: %d is out of range 1 to %d", o.Shards, MaxShards)
	}
	switch {
	case len(bytes.TrimSpace(o.SpecYAML)) == 0:
		add("spec: empty")
	case len(o.SpecYAML) > maxConfigMap:
		add("spec: %d bytes, more than the %d a ConfigMap holds", len(o.SpecYAML), maxConfigMap)
	case !utf8.Valid(o.SpecYAML):
		add("spec: not UTF-8 text")
	}
	if o.StartAt.IsZero() {
		add("start: missing: the instant every shard starts at")
	}
	if o.Deadline <= 0 {
		add("deadline: %s: must be above 0 (the wait for the start, the run and writing the results)", o.Deadline)
	}
	if errs := validation.IsDNS1123Subdomain(o.ResultsClaim); len(errs) > 0 {
		if o.ResultsClaim == "" {
			add("results claim: missing: name a PersistentVolumeClaim every shard can write to (ReadWriteMany across nodes)")
		} else {
			add("results claim %q: %s", o.ResultsClaim, strings.Join(errs, "; "))
		}
	}
	if d := o.ResultsDir; !path.IsAbs(d) || path.Clean(d) != d || d == "/" || d == specDir || strings.HasPrefix(d, specDir+"/") {
		add("results dir %q: must be a clean absolute path other than / and %s", d, specDir)
	}
	bad = append(bad, o.Resources.check()...)
	if len(bad) > 0 {
		return o, errors.New("k8s: " + strings.Join(bad, "; "))
	}
	return o, nil
}

// check says what is wrong with r.
func (r Resources) check() []string {
	var bad []string
	pairs := []struct {
		name       string
		req, limit string
	}{{"cpu", r.CPURequest, r.CPULimit}, {"memory", r.MemoryRequest, r.MemoryLimit}}
	for _, p := range pairs {
		req, reqOK := quantity(p.name+" request", p.req, &bad)
		limit, limitOK := quantity(p.name+" limit", p.limit, &bad)
		if reqOK && limitOK && p.req != "" && p.limit != "" && req.Cmp(limit) > 0 {
			bad = append(bad, fmt.Sprintf("resources: %s request %s is above its limit %s", p.name, p.req, p.limit))
		}
		if p.name == "memory" && limitOK && p.limit != "" && limit.Cmp(MinMemory) < 0 {
			bad = append(bad, fmt.Sprintf("resources: memory limit %s is below %s, the least a shard needs", p.limit, MinMemory.String()))
		}
	}
	return bad
}

// quantity parses s, an empty s as unset; it adds a problem to bad when s is
// not a quantity or is negative.
func quantity(name, s string, bad *[]string) (resource.Quantity, bool) {
	if s == "" {
		return resource.Quantity{}, true
	}
	q, err := resource.ParseQuantity(s)
	switch {
	case err != nil:
		*bad = append(*bad, fmt.Sprintf("resources: %s %q is not a quantity (as in 500m, 2 or 512Mi)", name, s))
		return q, false
	case q.Sign() < 0:
		*bad = append(*bad, fmt.Sprintf("resources: %s %s is negative", name, s))
		return q, false
	}
	return q, true
}

func (r Resources) requirements() corev1.ResourceRequirements {
	var req corev1.ResourceRequirements
	set := func(list *corev1.ResourceList, name corev1.ResourceName, s string) {
		if s == "" {
			return
		}
		if *list == nil {
			*list = corev1.ResourceList{}
		}
		(*list)[name] = resource.MustParse(s) // checked by check
	}
	set(&req.Requests, corev1.ResourceCPU, r.CPURequest)
	set(&req.Requests, corev1.ResourceMemory, r.MemoryRequest)
	set(&req.Limits, corev1.ResourceCPU, r.CPULimit)
	set(&req.Limits, corev1.ResourceMemory, r.MemoryLimit)
	return req
}

// labels are on every object, and select the Job's pods for the spread.
func labels(o Options) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":      "perfgate",
		"app.kubernetes.io/instance":  o.Name,
		"app.kubernetes.io/component": "load",
	}
}

func configMapName(o Options) string { return o.Name + "-spec" }

func configMap(o Options) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: configMapName(o), Namespace: o.Namespace, Labels: labels(o)},
		Data:       map[string]string{specKey: string(o.SpecYAML)},
	}
}

// args returns the arguments of a shard's perfgate for o: Kubernetes puts each
// pod's index in place of $(JOB_COMPLETION_INDEX).
func args(o Options) []string {
	index := "$(" + indexEnv + ")"
	return []string{
		"load",
		"--shard", index + "/" + strconv.Itoa(o.Shards),
		"--start", o.StartAt.UTC().Format(time.RFC3339Nano),
		"-f", path.Join(specDir, specKey),
		"-out", path.Join(o.ResultsDir, "shard-"+index+".json"),
	}
}

func job(o Options) *batchv1.Job {
	n := int32(o.Shards)
	ls := labels(o)
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: o.Namespace, Labels: ls},
		Spec: batchv1.JobSpec{
			CompletionMode: ptr(batchv1.IndexedCompletion),
			Completions:    &n,
			Parallelism:    &n,
			// A failed shard is not run again: a retry would send its part
			// of the schedule late. The first failure fails the Job and
			// stops the other shards, since the merge is incomplete anyway.
			BackoffLimit:          ptr(int32(0)),
			ActiveDeadlineSeconds: ptr(int64((o.Deadline + time.Second - 1) / time.Second)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: ls},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					AutomountServiceAccountToken: ptr(false),
					EnableServiceLinks:           ptr(false),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr(true),
						RunAsUser:      ptr(int64(nonRoot)),
						RunAsGroup:     ptr(int64(nonRoot)),
						FSGroup:        ptr(int64(nonRoot)),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					// At most one shard more on any node than on another: with
					// no more shards than nodes, each shard gets a node.
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
						MaxSkew:           1,
						TopologyKey:       corev1.LabelHostname,
						WhenUnsatisfiable: corev1.DoNotSchedule,
						LabelSelector:     &metav1.LabelSelector{MatchLabels: ls},
					}},
					Containers: []corev1.Container{{
						Name:    "load",
						Image:   o.Image,
						Command: []string{"perfgate"},
						Args:    args(o),
						Env: []corev1.EnvVar{{
							// Kubernetes sets it in Indexed Jobs; said here so
							// the manifest reads whole.
							Name: indexEnv,
							ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
								FieldPath: "metadata.annotations['" + batchv1.JobCompletionIndexAnnotation + "']",
							}},
						}},
						Resources: o.Resources.requirements(),
						VolumeMounts: []corev1.VolumeMount{
							{Name: "spec", MountPath: specDir, ReadOnly: true},
							{Name: "results", MountPath: o.ResultsDir},
						},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr(false),
							ReadOnlyRootFilesystem:   ptr(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
					Volumes: []corev1.Volume{
						{Name: "spec", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
							LocalObjectReference: corev1.LocalObjectReference{Name: configMapName(o)},
						}}},
						{Name: "results", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
							ClaimName: o.ResultsClaim,
						}}},
					},
				},
			},
		},
	}
}

func ptr[T any](v T) *T { return &v }
