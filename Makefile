# Everything a fresh machine needs: `make run` (train the default job) and `make test` (the test suite).
# Both create the virtual environment .venv on first use (Python >= 3.11).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=
PYTEST_ARGS ?=

.PHONY: run test test-fast bench install clean

$(VENV)/.installed: setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "snn-methods needs Python >= 3.11 (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

run: $(VENV)/.installed     ## train the default job: BPTT LIF MLP on the bundled digits data set (ARGS="..." for overrides)
	$(PY) launch.py $(ARGS)

test: $(VENV)/.installed    ## the whole suite, slow tests included (what CI runs)
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(VENV)/.installed
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

bench: $(VENV)/.installed   ## step time and memory, SNN vs its ANN twin
	$(PY) bench/step_time.py $(ARGS)

clean:
	rm -rf $(VENV) runs multirun outputs .pytest_cache
