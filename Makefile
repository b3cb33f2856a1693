# Targets for a fresh machine: `make run` and `make test` install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= configs/scenarios/smoke.yaml
PYTEST_ARGS ?=
SUITE ?= smoke

.PHONY: help install constraints run test unit integration slow release regressions presubmit nightly weekly lint bench bench-overhead bench-load-cluster clean chromium prometheus

help: ## list targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-12s %s\n", $$1, $$2}'

# constraints.txt pins the versions the tests passed on (the whole dependency closure).
# uv installs the same pinned versions as pip, in parallel: 21.7 s against pip's 36.1 s for a
# fresh venv here, cold caches both (2026-12-07). Where uv cannot be had, pip does it.
UV_VERSION ?= 0.13.10
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	if $(BIN)/pip install -q uv==$(UV_VERSION); then \
	  $(BIN)/uv pip install -q --python $(BIN)/python --compile-bytecode -c constraints.txt -e '.[dev]'; \
	else \
	  $(BIN)/pip install -q --upgrade pip && $(BIN)/pip install -q -c constraints.txt -e '.[dev]'; \
	fi
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the harness with its dev tools (versions from constraints.txt)

constraints: ## rewrite constraints.txt from .venv (after changing a version and passing the tests)
	$(BIN)/python tools/constraints.py constraints.txt

run: $(STAMP) ## run the default smoke scenario on a local cluster (SCENARIO=... to change)
	$(BIN)/harness run $(SCENARIO)

lint: $(STAMP) ## ruff over the tree
	$(BIN)/ruff check harness chaos locustfiles tests bench tools

# Unit tests start no cluster and run on every core (pytest-xdist); integration tests
# run one at a time: one Ray cluster at a time on a small machine.
UNIT_WORKERS ?= auto

unit: $(STAMP) ## unit tests only (no cluster), in parallel (UNIT_WORKERS=auto)
	$(BIN)/pytest tests/unit -q -n $(UNIT_WORKERS) $(PYTEST_ARGS)

integration: $(STAMP) ## integration tests on real local clusters
	$(BIN)/pytest tests/integration -q $(PYTEST_ARGS)

chromium: ## Debian's chromium for the report's browser test (installed with apt-get as root)
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y -o DPkg::Lock::Timeout=600 chromium; \
	  else echo "warning: /usr/bin/chromium missing and not root: the browser test will be skipped"; fi; }

prometheus: ## Debian's prometheus and pushgateway for the observability tests (installed with apt-get as root)
	@{ test -x /usr/bin/prometheus && test -x /usr/bin/prometheus-pushgateway; } || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=600 prometheus prometheus-pushgateway; \
	  else echo "warning: prometheus or prometheus-pushgateway missing and not root: their tests will be skipped"; fi; }

# The cluster tests run one at a time in the foreground (one Ray cluster at a time for the
# tests that assert times, rates or latencies; one keeps about one of the two cores busy),
# with three passes beside them (tools/beside.py), one after the other: first the integration
# tests that start no Ray cluster (marked no_cluster: real Locust against a local server, a
# browser; their send times and latencies are asserted) in a session of their own at the
# normal priority, so the scheduler gives them and the cluster pass a core each; then the
# unit tests on every core, and then the cluster tests that assert no time (marked no_timing:
# exit codes, causes, results, nothing left running), both at the lowest CPU priority (they
# take what the timing-sensitive cluster pass leaves idle). All are done before the cluster
# pass. The `slow` ones (long runs that another shipped check also proves: README, "Two
# commands") run with `make slow`, not here.
test: lint chromium prometheus ## the project's own tests: lint, then the timing cluster tests (serial) with the no-cluster, unit and no-timing cluster tests beside them, not the slow ones
	$(BIN)/python tools/beside.py --log results/beside-pass.log \
	  --fair $(BIN)/pytest tests/integration -m "no_cluster" -q -p no:cacheprovider $(PYTEST_ARGS) \
	  -- $(BIN)/pytest tests/unit -q -p no:cacheprovider -n $(UNIT_WORKERS) $(PYTEST_ARGS) \
	  -- $(BIN)/pytest tests/integration -m "no_timing and not slow" -q -p no:cacheprovider --durations=5 $(PYTEST_ARGS) \
	  -- $(BIN)/pytest tests/integration -m "not no_cluster and not no_timing and not slow" -q -p no:cacheprovider --durations=15 $(PYTEST_ARGS)

slow: $(STAMP) ## the long cluster tests `make test` leaves out (node autoscaling with cloud_api_lag, bisect end to end), about 2.5 min
	$(BIN)/pytest tests/integration -m slow -q -p no:cacheprovider $(PYTEST_ARGS)

release: $(STAMP) ## a release suite as pytest tests (SUITE=presubmit|nightly|weekly|smoke; JUnit per scenario)
	$(BIN)/pytest tests/release -q --suite $(SUITE) --junitxml=results/release-junit.xml $(PYTEST_ARGS)

# The shipped release suites (configs/suites; docs/calibration.md has their measured times).
# They start local clusters: where several jobs share a machine, run them under its Ray lock.
SUITE_ARGS ?=

presubmit: $(STAMP) ## presubmit suite: smoke + chaos under load, about 1.5 min (for every pull request)
	$(BIN)/harness suite presubmit $(SUITE_ARGS)

nightly: $(STAMP) ## nightly suite: every failure the gate exists for, about 5 min (SUITE_ARGS=--label ...)
	$(BIN)/harness suite nightly $(SUITE_ARGS)

weekly: $(STAMP) ## weekly suite: nightly + soak, chaos storm, control-plane faults, about 22 min
	$(BIN)/harness suite weekly $(SUITE_ARGS)

regressions: $(STAMP) ## the seeded-regression set: known-bad variants must be blocked (docs/release-set.md)
	$(BIN)/pytest tests/release/test_seeded_regressions.py -q -p no:cacheprovider --junitxml=results/regressions-junit.xml $(PYTEST_ARGS)

bench: $(STAMP) ## benchmarks of the harness itself (figures: docs/benchmarks.md)
	$(BIN)/python -m bench.cold_start
	$(BIN)/python -m bench.live_view_cpu
	$(BIN)/python -m bench.recorder_poll
	$(BIN)/python -m bench.load_generator
	$(BIN)/python -m bench.chaos_timing
	$(BIN)/python -m bench.load_workers_cluster
	$(BIN)/python -m bench.ray_scrape_cpu

bench-overhead: $(STAMP) ## a run's overhead against a hand-written script, and a suite's own overhead (docs/benchmarks.md)
	-$(BIN)/python -m bench.run_vs_script  # exits 1 when over its target: the suite's runs anyway
	$(BIN)/python -m bench.suite_overhead

# On a 16-core machine: make bench-load-cluster NODES=16 WORKERS=1,4 RATE=6000 (docs/load-cluster.md)
NODES ?= 4
WORKERS ?= 1,2,4
RATE ?= 300
bench-load-cluster: $(STAMP) ## Locust workers as Ray actors vs local workers (NODES, WORKERS, RATE per worker)
	$(BIN)/python -m bench.load_workers_cluster --nodes $(NODES) --workers $(WORKERS) --rate-per-worker $(RATE) --out results/bench-load-cluster.json

clean: ## remove results and caches (keeps .venv)
	rm -rf results .pytest_cache .ruff_cache
