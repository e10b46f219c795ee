# Volta: every set-up step lives here, so a fresh clone needs only `make run` / `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
CONFIG ?= config/paper.toml

.PHONY: run test bench lint clean cluster-demo

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	$(PY) -m engine.pricing.warm    # Numba cache built now: no compile at first run
	$(PY) -m adapters.sim.warm
	$(PY) -m engine.book_array     # the columnar book kernel
	$(PY) -m compileall -q engine adapters backtest strategies cluster >/dev/null  # bytecode now, as a wheel install does: no compile at each start
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/volta run $(CONFIG)

test: $(VENV)/.installed-dev
	$(PY) -m pytest -q

# nats-server, a gateway, two nodes and the aggregator on this machine (docs/cluster.md)
cluster-demo: $(VENV)/.installed-dev
	$(PY) -m cluster.demo $(DEMO_ARGS)

$(VENV)/.installed-bench: $(VENV)/.installed-dev pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $@

bench: $(VENV)/.installed-bench
	$(PY) -m benchmarks

lint: $(VENV)/.installed-dev
	$(PY) -m compileall -q engine adapters strategies cluster config benchmarks tests
	$(PY) -m pytest -q tests/test_import_rules.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
