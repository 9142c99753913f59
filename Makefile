# toolmesh — every entry point a developer or CI needs.
#   make run    set everything up (venv, deps, generated code) and run the local demo mesh
#   make test   the whole test suite (what CI runs)
#   make proto  regenerate Python code from proto/
#   make lint   ruff, mypy, import-linter, buf lint
#   make bench  the benchmarks: forwarding (direct vs sidecar vs nginx), policy cost, resilience

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed
# Debian packages the tests and the benchmark drive as real peers.
APT_PACKAGES := nghttp2-client nginx prometheus
APT_STAMP := $(VENV)/.apt

.PHONY: run demo test proto lint bench venv apt clean

run: venv apt
	$(BIN)/toolmesh demo

demo: run

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (python3.11 or newer) on PATH" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(PY) proto/generate.py
	touch $@

apt: $(APT_STAMP)

# Installs the Debian packages the tests need when any is missing (root or sudo required).
$(APT_STAMP): Makefile
	@mkdir -p $(VENV)
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@touch $@

proto: venv
	$(PY) proto/generate.py

test: venv apt
	$(PY) -m pytest -q

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy mesh sidecar registry examples
	$(BIN)/lint-imports
	cd proto && ../$(BIN)/buf lint
	cd examples/tools/proto && ../../../$(BIN)/buf lint

# Writes grafana/dashboards/*.json from the builders in grafana/ (a test fails when stale).
.PHONY: dashboards
dashboards: venv
	$(PY) -m grafana.build

bench: venv apt
	$(PY) -m bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
