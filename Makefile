# intent-observe — everything a fresh Debian machine needs, from this file.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSSTAMP := .build/.system-deps

.PHONY: up test bench lint install system-deps deploy-tools clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip wheel
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## up: the whole stack on this machine (demo history when the repository has no events)
up: $(STAMP)
	$(BIN)/intent-observe up --auto-demo

$(SYSSTAMP): scripts/install-system-deps.sh
	bash scripts/install-system-deps.sh
	mkdir -p .build && touch $(SYSSTAMP)

system-deps: $(SYSSTAMP)

# The Collector (built from Go modules), Claude Code, Helm and Grafana's schema; cached under .build/.
deploy-tools: $(SYSSTAMP)
	bash scripts/install-deploy-tools.sh all

## test: installs what the tests need, then runs every test
test: $(STAMP) $(SYSSTAMP) deploy-tools
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -q

## bench: throughput, latency and memory figures, side by side with their baselines
bench: $(STAMP)
	$(BIN)/python -m benchmarks

## lint: ruff and mypy
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf .build $(VENV)
