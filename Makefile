# perfgate — every target is a thin wrapper over go and docker commands.
GO          ?= go
COMPOSE     ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
COMPOSE_FILE = compose/docker-compose.yml
# Static, cgo-enabled build of the service that runs in a FROM scratch image.
SERVICE_TAGS    = netgo osusergo sqlite_omit_load_extension
SERVICE_LDFLAGS = -s -w -linkmode external -extldflags "-static"

.DEFAULT_GOAL := help
.PHONY: help build test test-unit fuzz perf perf-aa perf-rates bench lint images perfgate-image up down clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## compile everything and the static service binary (bin/tasksvc)
	$(GO) build ./...
	CGO_ENABLED=1 $(GO) build -trimpath -tags '$(SERVICE_TAGS)' -ldflags '$(SERVICE_LDFLAGS)' -o bin/tasksvc ./service/cmd/tasksvc

# The gate runs last and alone: other packages' tests would steal the CPU its
# load generator and replicas need, and turn a clean run inconclusive.
test: ## unit tests with the race detector, a short fuzz of every parser, then every test including the gate
	$(GO) test -race -short ./...
	$(MAKE) fuzz FUZZTIME=5000x
	$(GO) test -count=1 -timeout 20m $$($(GO) list ./... | grep -v '/perftest$$')
	$(GO) test -count=1 -timeout 40m -v ./perftest

# One fuzz target per go test call: go test -fuzz takes a single target.
# Each new interesting input is minimized for FUZZMINIMIZE, not the default
# minute. make test budgets each target in executions (5000x), not seconds:
# Go 1.26's fuzz coordinator can fail a run that ends on a wall-clock
# -fuzztime with "context deadline exceeded" and no crasher (golang/go#75804,
# fixed in Go 1.27), which a count never reaches.
FUZZTIME ?= 30s
FUZZMINIMIZE ?= 2s
fuzz: ## fuzz the thresholds loader, the shard-result reader, the workload compiler and every JSON handler, FUZZTIME each (30s)
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./thresholds/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./perftest/internal/shard/
	$(GO) test -run '^$$' -fuzz '^FuzzCompile$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./perftest/internal/workload/
	for f in FuzzCreate FuzzUpdate FuzzDelete FuzzList; do \
		$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./service/internal/api/ || exit 1; \
	done

test-unit: ## fast unit tests only (no containers)
	$(GO) test -short ./...

perf: ## run the gate against thresholds/slo.yaml (reports in PERF_REPORT_DIR)
	PERF_REQUIRE_DOCKER=$${PERF_REQUIRE_DOCKER-1} $(GO) test -count=1 -timeout 20m -v -run '^TestGate$$' ./perftest

perf-aa: ## noise calibration: the work tree against itself, the smallest regression this machine can detect; CANDIDATE_ARGS=-pprof=false: what a flag costs; PAIRS=20: 20 pairs
	PERF_AA=1 PERF_AA_CANDIDATE_ARGS="$(CANDIDATE_ARGS)" PERF_AA_PAIRS=$(PAIRS) PERF_REQUIRE_DOCKER=$${PERF_REQUIRE_DOCKER-1} $(GO) test -count=1 -timeout 30m -v -run '^TestCompareAA$$' ./perftest

N ?= 5
NOISE ?= $(PERF_NOISE)
ONLY ?= $(PERF_RATES_ONLY)
PROFILE ?= $(PERF_PROFILE)
perf-rates: ## detection rates: N A/A runs and N runs of each corpus entry (N=5), kept in perftest/testdata/rates/; NOISE=memhog beside the standard noisy neighbour; ONLY=aa,name; N=table prints what is kept; VIEW=nongo judges without the Go runtime's metrics; PROFILE=always profiles every comparison
	@if [ -n "$(NOISE)" ] && ! command -v stress-ng >/dev/null; then echo "NOISE=$(NOISE) needs stress-ng: apt-get install stress-ng"; exit 2; fi
	PERF_RATES=$(N) PERF_NOISE=$(NOISE) PERF_RATES_ONLY=$(ONLY) PERF_RATES_VIEW=$(VIEW) PERF_PROFILE=$(PROFILE) PERF_REQUIRE_DOCKER=$${PERF_REQUIRE_DOCKER-1} $(GO) test -count=1 -timeout 6h -v -run '^TestCompareDetectionRates$$' ./perftest

bench: ## benchmarks: service handlers and throughput, load generator vs vegeta
	$(GO) test -run '^$$' -bench . -benchmem -count 3 ./service/... ./perftest/internal/load/

lint: ## gofmt, go vet and actionlint
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	actionlint

images: ## build the service and Prometheus images, tagged :local for compose
	$(GO) run ./perftest/cmd/perfgate images

# The shards of a Kubernetes Job run this image; push it where the cluster
# pulls from (PERFGATE_IMAGE=registry.example.com/perfgate:1). GOARCH is the nodes'.
PERFGATE_IMAGE ?= perfgate/perfgate:local
perfgate-image: ## the perfgate command in a FROM scratch image, for sharded load on Kubernetes (PERFGATE_IMAGE)
	mkdir -p bin/perfgate-image
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -ldflags '-s -w' -o bin/perfgate-image/perfgate ./perftest/cmd/perfgate
	cp /etc/ssl/certs/ca-certificates.crt bin/perfgate-image/ 2>/dev/null || : > bin/perfgate-image/ca-certificates.crt
	docker build -q -t $(PERFGATE_IMAGE) -f perftest/cmd/perfgate/Dockerfile bin/perfgate-image

# Without a registry, compose runs the Prometheus image `make images` built
# locally, and starts without Grafana when its image cannot be had.
PROMETHEUS_UPSTREAM = prom/prometheus:v3.5.0
GRAFANA_IMAGE      ?= grafana/grafana:13.2.3
up: images ## start the compose stack with Grafana (127.0.0.1:3000)
	@prom=$${PROMETHEUS_IMAGE:-$$(docker image inspect $(PROMETHEUS_UPSTREAM) >/dev/null 2>&1 || docker pull -q $(PROMETHEUS_UPSTREAM) >/dev/null 2>&1 && echo $(PROMETHEUS_UPSTREAM) || echo perfgate/prometheus:local)}; \
	services=""; \
	if ! docker image inspect $(GRAFANA_IMAGE) >/dev/null 2>&1 && ! docker pull -q $(GRAFANA_IMAGE) >/dev/null 2>&1; then \
		echo "no $(GRAFANA_IMAGE) and no registry to pull it from: starting without Grafana"; \
		services="replica-1 replica-2 prometheus"; \
	fi; \
	echo "prometheus image: $$prom"; \
	PROMETHEUS_IMAGE=$$prom GRAFANA_IMAGE=$(GRAFANA_IMAGE) $(COMPOSE) -p perfgate -f $(COMPOSE_FILE) up -d $$services

down: ## stop the compose stack and remove its volume
	$(COMPOSE) -p perfgate -f $(COMPOSE_FILE) down -v

clean: ## remove build output and leftovers of crashed gate runs
	rm -rf bin
	$(GO) run ./perftest/cmd/perfgate sweep
