package compose

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStackIsConsistent(t *testing.T) {
	s, err := loadStack(".")
	require.NoError(t, err)
	assert.Empty(t, sortedErrors(s.check()))
}

// Each case breaks one thing in the committed stack and expects exactly the
// message that names it, so every check is shown to be able to fail.
func TestStackCheckReportsEachBreak(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*stack)
		want   string
	}{
		{
			name:   "a port published on every interface is reported",
			mutate: func(s *stack) { s.compose.Services["replica-1"].Ports[0] = "8081:8080" },
			want:   `docker-compose.yml: services.replica-1.ports[0]: "8081:8080" is not bound to 127.0.0.1 (write 127.0.0.1:HOST:CONTAINER)`,
		},
		{
			name:   "an image on latest is reported",
			mutate: func(s *stack) { s.compose.Services["grafana"].Image = "${GRAFANA_IMAGE:-grafana/grafana:latest}" },
			want:   `docker-compose.yml: services.grafana.image: "grafana/grafana:latest" is not pinned to a tag other than latest`,
		},
		{
			name:   "an image without a tag is reported",
			mutate: func(s *stack) { s.compose.Services["prometheus"].Image = "prom/prometheus" },
			want:   `docker-compose.yml: services.prometheus.image: "prom/prometheus" is not pinned to a tag other than latest`,
		},
		{
			name: "replicas on different volumes are reported",
			mutate: func(s *stack) {
				s.compose.Volumes["other"] = nil
				s.compose.Services["replica-2"].Volumes = []string{"other:/data"}
			},
			want: `docker-compose.yml: the replicas do not share one database: tasks-data:/data/tasks.db, other:/data/tasks.db`,
		},
		{
			name: "a database outside the volume is reported",
			mutate: func(s *stack) {
				s.compose.Services["replica-1"].Command = []string{"-db=tasks.db", "-instance=replica-1"}
			},
			want: `docker-compose.yml: services.replica-1: -db=tasks.db is not on a mounted volume`,
		},
		{
			name: "a replica named differently from its service is reported",
			mutate: func(s *stack) {
				s.compose.Services["replica-2"].Command = []string{"-db=/data/tasks.db", "-instance=replica-1"}
			},
			want: `docker-compose.yml: services.replica-2.command: -instance="replica-1", want "replica-2", the label Prometheus gives it`,
		},
		{
			name:   "an undeclared named volume is reported",
			mutate: func(s *stack) { delete(s.compose.Volumes, "prometheus-data") },
			want:   `docker-compose.yml: services.prometheus.volumes[1]: volume "prometheus-data" is not declared under volumes`,
		},
		{
			name:   "a Prometheus target that is no compose service is reported",
			mutate: func(s *stack) { s.prometheus.ScrapeConfigs[0].StaticConfigs[0].Targets[1] = "replica-3:8080" },
			want:   `prometheus.yml: target "replica-3:8080": no compose service "replica-3"`,
		},
		{
			name:   "a replica Prometheus does not scrape is reported",
			mutate: func(s *stack) { s.prometheus.ScrapeConfigs[0].StaticConfigs[0].Targets = []string{"replica-1:8080"} },
			want:   `prometheus.yml: instances [replica-1], want exactly the replicas [replica-1 replica-2]`,
		},
		{
			name:   "a Prometheus target on the wrong port is reported",
			mutate: func(s *stack) { s.prometheus.ScrapeConfigs[0].StaticConfigs[0].Targets[0] = "replica-1:9000" },
			want:   `prometheus.yml: target "replica-1:9000": replica-1 listens on port "8080"`,
		},
		{
			name:   "a target keeping its port in the instance label is reported",
			mutate: func(s *stack) { s.prometheus.ScrapeConfigs[0].RelabelConfigs = nil },
			want: `prometheus.yml: target "replica-1:8080" gets instance="replica-1:8080", want "replica-1"` + "\n" +
				`prometheus.yml: target "replica-2:8080" gets instance="replica-2:8080", want "replica-2"`,
		},
		{
			name:   "a scrape interval other than the gate's is reported",
			mutate: func(s *stack) { s.prometheus.Global.ScrapeInterval = 15e9 },
			want: `grafana/provisioning/datasources/prometheus.yml: datasources[0]: jsonData.timeInterval "1s", want the scrape interval "15s"` + "\n" +
				`prometheus.yml: job tasksvc scrapes every 15s, want 1s like the gate`,
		},
		{
			name: "Prometheus reading a config file compose does not mount is reported",
			mutate: func(s *stack) {
				s.compose.Services["prometheus"].Command[0] = "--config.file=/etc/prometheus/other.yml"
			},
			want: `docker-compose.yml: services.prometheus: --config.file="/etc/prometheus/other.yml" is not where ./prometheus.yml is mounted`,
		},
		{
			name: "a dashboard provider reading a directory compose does not mount is reported",
			mutate: func(s *stack) {
				p := s.providers["perfgate.yml"]
				p.Providers[0].Options.Path = "/dashboards"
				s.providers["perfgate.yml"] = p
			},
			want: `grafana/provisioning/dashboards/perfgate.yml: providers[0]: options.path "/dashboards" is not where compose mounts ./grafana/dashboards`,
		},
		{
			name: "a datasource pointing elsewhere than the Prometheus service is reported",
			mutate: func(s *stack) {
				d := s.datasources["prometheus.yml"]
				d.Datasources[0].URL = "http://localhost:9090"
				s.datasources["prometheus.yml"] = d
			},
			want: `grafana/provisioning/datasources/prometheus.yml: datasources[0]: type "prometheus" url "http://localhost:9090", want type prometheus url http://prometheus:9090`,
		},
		{
			name: "a datasource time interval other than the scrape interval is reported",
			mutate: func(s *stack) {
				d := s.datasources["prometheus.yml"]
				d.Datasources[0].JSONData.TimeInterval = "15s"
				s.datasources["prometheus.yml"] = d
			},
			want: `grafana/provisioning/datasources/prometheus.yml: datasources[0]: jsonData.timeInterval "15s", want the scrape interval "1s"`,
		},
		{
			name: "a panel on a datasource that is not provisioned is reported",
			mutate: func(s *stack) {
				d := s.dashboards["perfgate.json"]
				d.Panels[1].Datasource = &datasourceRef{Type: "prometheus", UID: "elsewhere"}
				s.dashboards["perfgate.json"] = d
			},
			want: `grafana/dashboards/perfgate.json: panel "Targets up": datasource "elsewhere" is not a provisioned one`,
		},
		{
			name: "a panel id used twice is reported",
			mutate: func(s *stack) {
				d := s.dashboards["perfgate.json"]
				d.Panels[2].ID = d.Panels[1].ID
				s.dashboards["perfgate.json"] = d
			},
			want: `grafana/dashboards/perfgate.json: panel id 2 is used twice`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := loadStack(".")
			require.NoError(t, err)
			tc.mutate(&s)
			assert.Equal(t, tc.want, sortedErrors(s.check()))
		})
	}
}

func TestLoadStackReportsMissingFiles(t *testing.T) {
	_, err := loadStack(t.TempDir())
	require.Error(t, err)
	for _, want := range []string{composePath, prometheusPath, "datasources: no *.yml file", "dashboards: no *.yml file", "dashboards: no *.json file"} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestPinned(t *testing.T) {
	cases := []struct {
		ref  string
		want bool
	}{
		{"prom/prometheus:v3.5.0", true},
		{"perfgate/tasksvc:dev", true},
		{"grafana/grafana@sha256:0123abcd", true},
		{"prom/prometheus", false},
		{"prom/prometheus:latest", false},
		{"localhost:5000/prometheus", false},
		{"localhost:5000/prometheus:v3.5.0", true},
	}
	for _, tc := range cases {
		t.Run(tc.ref, func(t *testing.T) {
			assert.Equal(t, tc.want, pinned(tc.ref))
		})
	}
}

// The compose tool itself validates the file against the Compose schema,
// which the decoding above does not.
func TestComposeFileValidates(t *testing.T) {
	var cmd *exec.Cmd
	switch {
	case exec.Command("docker", "compose", "version").Run() == nil:
		cmd = exec.Command("docker", "compose", "-f", composePath, "config", "-q")
	case lookPath("docker-compose"):
		cmd = exec.Command("docker-compose", "-f", composePath, "config", "-q")
	default:
		t.Skip("neither `docker compose` nor docker-compose is installed: the Compose schema is not checked here")
	}
	cmd.Env = append(os.Environ(), "TASKSVC_IMAGE=", "PROMETHEUS_IMAGE=", "GRAFANA_IMAGE=")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s: %s", strings.Join(cmd.Args, " "), out)
}

func lookPath(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}
