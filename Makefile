# hubble-sentinel. Only Go is needed: the OPA CLI and Alertmanager are pinned
# tool dependencies in go.mod, run with `go tool`.

GO       ?= go
BIN      := bin/hubble-sentinel
PKGS     := ./...
OPA      := $(GO) tool opa
# The JSON Schema of the policy input, schema.input in policies' METADATA.
SCHEMAS  := policies/schemas
# The real captures the tests replay, read-only, when they are present
# (tests that need them say so and skip otherwise).
HUBBLE_SENTINEL_CAPTURES ?= $(wildcard $(abspath ../shared/captures/gke-2021))
export HUBBLE_SENTINEL_CAPTURES

# Every build without the race detector (the pinned tools, the binary, the tests run without
# -race, the Dockerfile's build) uses the Dockerfile's flags, so a package is compiled once for
# all of them. -race needs cgo: the race tests set CGO_ENABLED=1 and are given the tools' paths,
# so that they do not compile the tools a second time.
export CGO_ENABLED := 0
export GOFLAGS := -trimpath -buildvcs=false
RACE := CGO_ENABLED=1 HUBBLE_SENTINEL_ALERTMANAGER=$$($(GO) tool -n alertmanager) HUBBLE_SENTINEL_OPA=$$($(GO) tool -n opa)

.PHONY: fuzz
.PHONY: image test-deploy
.PHONY: all build test go-test test-race test-cilium test-hubble hubble-tools test-stream policy-test fixtures schema e2e demo bench bench-micro eval fmt lint tools clean

all: build

## build: a static binary built as the Dockerfile's build stage builds it (CGO_ENABLED=0,
## -trimpath, exported above), so that test-deploy's run of that command reuses this compilation.
build:
	$(GO) build -o $(BIN) ./cmd/hubble-sentinel

## test: every test: Go (end-to-end with a real Alertmanager and the relay-restart stream of
## 1,000,000 flows included), Rego, the manifests and Cilium's parsing. The pinned tools and the
## binary the end-to-end tests run are built first, so that no test's timeout includes a compile.
## Every fuzz target's seed corpus (testdata/fuzz) runs in go-test; `make fuzz` fuzzes.
## The race detector doubles the compilation and slows the tests five- to tenfold, so the same
## tests run under it in test-race, which CI runs after make test.
test: tools build policy-test go-test test-cilium test-deploy

go-test: tools build
	HUBBLE_SENTINEL_BIN=$(abspath $(BIN)) $(GO) test -timeout 12m $(PKGS)

## test-race: go-test under the race detector (the stream test with 100,000 flows).
test-race: tools build
	$(RACE) HUBBLE_SENTINEL_BIN=$(abspath $(BIN)) $(GO) test -race -timeout 15m $(PKGS)

## test-cilium: checks against Cilium's own code (CiliumNetworkPolicy parsing), in a module of
## its own under test/cilium so the product module does not link Cilium's agent packages.
## Without -race: it parses in one goroutine, and shares the compilation of the binary.
test-cilium: build
	cd test/cilium && HUBBLE_SENTINEL_BIN=$(abspath $(BIN)) $(GO) test -timeout 10m ./...

## test-deploy: the kustomize overlays and the Helm chart rendered (as libraries) with default
## and other values, decoded strictly into Kubernetes', prometheus-operator's and Cilium's types;
## the dashboard's and rules' metric names against what the binary registers; promlint; the
## Dockerfile's build command. A module of its own under deploy/ (Helm, kustomize). Without
## -race: the tests render and decode in one goroutine, and the race build of Helm, kustomize
## and the Kubernetes types would add minutes to a cold compile of ~5 (297 s measured, 2 cores).
test-deploy: build
	cd deploy && HUBBLE_SENTINEL_BIN=$(abspath $(BIN)) $(GO) test -timeout 10m ./...

## image: the container image (Dockerfile: distroless static, non-root) with docker or podman.
IMAGE ?= ghcr.io/hubble-sentinel/hubble-sentinel:latest
CONTAINER_ENGINE ?= $(shell command -v docker 2>/dev/null || command -v podman 2>/dev/null)
image:
	@if [ -z "$(CONTAINER_ENGINE)" ]; then echo "make image: no container engine (docker or podman) found; set CONTAINER_ENGINE" >&2; exit 1; fi
	$(CONTAINER_ENGINE) build -t $(IMAGE) .

## test-hubble: the flow stream against real Hubble, v1.20.2 (Cilium's observer server and ring,
## the real hubble-relay, the real hubble CLI against the demo relay), in test/cilium behind the
## `hubble` build tag. Apart from make test because a cold build takes ~14 minutes on two busy
## cores (hubble-relay and the CLI ~9, the test with Cilium's observer ~5); .ci/run runs it after
## make test. Without -race, so the test shares the binaries' compilation (the code under test
## runs under -race in go-test).
test-hubble: build hubble-tools
	cd test/cilium && HUBBLE_SENTINEL_BIN=$(abspath $(BIN)) $(GO) test -tags hubble -timeout 10m ./...

## hubble-tools: hubble-relay and the hubble CLI at the Cilium version test/cilium requires.
hubble-tools:
	cd test/cilium && $(GO) build -o bin/ github.com/cilium/cilium/hubble-relay github.com/cilium/cilium/hubble

## test-stream: the relay killed and restarted ten times during a stream of 1,000,000 flows, alone
## (go-test runs it too; test-race with 100,000).
test-stream:
	$(GO) test -count=1 -timeout 5m -run TestClientSurvivesRelayRestarts ./hubble/

## policy-test: opa fmt (no diff allowed), opa check --strict against the input schema, opa test, and
## at least $(MIN_COVERAGE) % line coverage of every policy package.
MIN_COVERAGE ?= 90
policy-test: tools
	$(OPA) fmt --diff --fail policies
	$(OPA) check --strict --schema $(SCHEMAS) policies
	$(OPA) test policies
	@mkdir -p bin
	$(OPA) test --coverage --format=json policies > bin/policy-coverage.json
	$(GO) run ./test/opacover -min $(MIN_COVERAGE) < bin/policy-coverage.json

## fixtures: regenerate the Rego tests' input documents (testdata/inputs.json beside every
## testdata/flows.jsonl under policies/) with the engine's own per-flow path.
fixtures:
	$(GO) run ./cmd/hubble-sentinel policy fixtures policies

## schema: regenerate the policy input schema, policies/schemas/input.jsonschema, from engine/input.
schema:
	$(GO) generate ./engine/schema

## fuzz: every native Go fuzz target for FUZZTIME each (go test -fuzz takes one target per
## package per run). Seeds live in each package's testdata/fuzz/<Target>/; a crasher found is
## written there too and then runs as a seed in every go test.
FUZZ_TARGETS := ./hubble:FuzzParseLine ./hubble:FuzzRecentSet ./hubble:FuzzMaskedDecoding ./hubble:FuzzDecoder ./engine/input:FuzzDocument \
	./engine/httpurl:FuzzParse ./engine/redact:FuzzRedact ./engine/facts:FuzzMeasure ./engine/facts:FuzzPathTemplate \
	./cmd/hubble-sentinel/internal/config:FuzzConfig ./engine/policy:FuzzBundle ./engine/policy:FuzzRequestText ./engine/policy:FuzzCallGuardNative \
	./engine/profile:FuzzContainerJSON ./engine/profile:FuzzStateJSON
FUZZTIME ?= 30s
## FUZZMINIMIZETIME bounds the minimizing of each new input: by default (60 s each) a target
## linking Cilium's flow types stalled at 0 execs/s while it minimized, 11 new inputs in 4 minutes.
FUZZMINIMIZETIME ?= 10x
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $$t for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) "$${t%%:*}"; \
	done

## e2e: only the end-to-end test (relay -> hubble-sentinel run -> real Alertmanager).
e2e: tools build
	$(RACE) HUBBLE_SENTINEL_BIN=$(abspath $(BIN)) $(GO) test -race -count=1 -v ./test/e2e/...

## demo: the embedded default: a built-in demo relay streaming a simulated shop with attacks.
demo:
	$(GO) run ./cmd/hubble-sentinel demo

## eval: replay the simulated shop with baseline attacks and score detection (learning 40 min).
eval: build
	$(GO) run ./test/eval -bin $(BIN)

## bench: the engine end to end (hubble-sentinel run over loopback gRPC) against the transport
## limit and naive evaluation, on the same simulated traffic; latency at half the engine's rate;
## peak RSS with 100,000 identities. Prints PASS/FAIL per target of issue 12, writes bench.json,
## exits 1 when a target is missed. Loads both cores for a few minutes.
bench: build
	$(GO) run ./test/bench -bin $(BIN) -out bench.json

## bench-micro: Go benchmarks of the per-flow path.
bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem ./engine/...

fmt:
	gofmt -w $$(git ls-files '*.go')
	$(OPA) fmt -w policies

lint:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(OPA) check --strict --schema $(SCHEMAS) policies

## tools: build the pinned tools (OPA CLI, Alertmanager) ahead of time; later `go tool` calls
## find them in the build cache.
tools:
	$(OPA) version >/dev/null
	$(GO) tool -n alertmanager >/dev/null

clean:
	rm -rf bin
