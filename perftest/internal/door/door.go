// Package door is what a door of the gate (the go test suite, the perfgate
// command) does to its process once, before anything starts a container.
// Only doors import it; the libraries read no environment and set none.
package door

import (
	"os"
	"strings"
	"sync"

	tclog "github.com/testcontainers/testcontainers-go/log"
)

// Env names the variables Testcontainers reads.
var Env = struct{ Debug, DockerHost string }{"PERF_DEBUG", "DOCKER_HOST"}

// Testcontainers configures testcontainers-go for machines where no
// registry answers, reading the door's environment through getenv:
//
//   - Ryuk is off (TESTCONTAINERS_RYUK_DISABLED=true), since its image
//     would have to be pulled; the stack removes what it starts itself.
//   - With a local daemon (DOCKER_HOST unset or unix://), the host of
//     published ports is 127.0.0.1 (TESTCONTAINERS_HOST_OVERRIDE), where
//     the stack publishes them; inside a container testcontainers would
//     guess a gateway address instead.
//   - testcontainers' own log lines are dropped unless PERF_DEBUG is set:
//     the gate prints its own, shorter ones.
//
// Both settings are environment variables because testcontainers-go
// (v0.45) has no option for them: Ryuk is read into an internal config
// from the environment or ~/.testcontainers.properties only, and the
// published host from TESTCONTAINERS_HOST_OVERRIDE only. A variable the
// user has set is left as it is. Only the first call does anything.
func Testcontainers(getenv func(string) string) {
	configure.Do(func() {
		setDefault("TESTCONTAINERS_RYUK_DISABLED", "true")
		if h := getenv(Env.DockerHost); h == "" || strings.HasPrefix(h, "unix://") {
			setDefault("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
		}
		if getenv(Env.Debug) == "" {
			tclog.SetDefault(tclog.NewNoopLogger())
		}
	})
}

var configure sync.Once

func setDefault(k, v string) {
	if _, ok := os.LookupEnv(k); !ok {
		os.Setenv(k, v)
	}
}
