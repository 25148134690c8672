# intent-observe — everything a fresh Debian machine needs, from this file.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORE := $(VENV)/.core-built
SYSSTAMP := .build/.system-deps
RUST_SOURCES := Cargo.toml Cargo.lock $(shell find crates -path '*/target' -prune -o \( -name '*.rs' -o -name Cargo.toml \) -print)
# maturin's build backend runs the `maturin` of the venv, found on PATH
PIP := PATH=$(abspath $(BIN)):$$PATH $(BIN)/pip
# clippy checks the Python bindings too; pyo3 asks this interpreter what to build for
CARGO := PYO3_PYTHON=$(abspath $(BIN)/python) cargo

.PHONY: up test bench lint install system-deps deploy-tools clean rust-check

# The package, editable, with the compiled core (crates/core, release profile) built by
# maturin into src/intent_observe/_core.*.so. Needs a Rust toolchain (rustup); without
# one, install a wheel built elsewhere (README: "The compiled core").
$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip wheel 'maturin>=1.9,<2'
	$(PIP) install -q --no-build-isolation -e '.[test]'
	touch $(STAMP)

# the core again whenever a Rust source changed; the package's bytecode compiled as a wheel's
# install does (an editable install leaves it to the first run, and an environment with
# PYTHONDONTWRITEBYTECODE recompiled every module at every start: 36 ms of `tail --once`)
$(CORE): $(STAMP) $(RUST_SOURCES)
	$(PIP) install -q --no-build-isolation --no-deps -e .
	$(BIN)/python -m compileall -q src/intent_observe
	touch $(CORE)

install: $(CORE)

## up: the whole stack on this machine (demo history when the repository has no events)
up: $(CORE)
	$(BIN)/intent-observe up --auto-demo

$(SYSSTAMP): scripts/install-system-deps.sh
	bash scripts/install-system-deps.sh
	mkdir -p .build && touch $(SYSSTAMP)

system-deps: $(SYSSTAMP)

# The Collector (built from Go modules), Claude Code, Helm and Grafana's schema; cached under .build/.
deploy-tools: $(SYSSTAMP)
	bash scripts/install-deploy-tools.sh all

## test: installs what the tests need, then runs every test
test: $(CORE) $(SYSSTAMP) deploy-tools rust-check
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -q

# the core's own checks: rustfmt, clippy (warnings are errors) and its unit tests
rust-check: $(STAMP)
	$(CARGO) fmt --all --check
	$(CARGO) clippy --quiet --all-features --all-targets -- -D warnings
	$(CARGO) test --quiet --all-features

## bench: throughput, latency and memory figures, side by side with their baselines
bench: $(CORE)
	$(BIN)/python -m benchmarks

## lint: ruff and mypy
lint: $(CORE) rust-check
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf .build $(VENV) target src/intent_observe/_core.*.so
