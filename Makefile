# modelctl — two commands on a fresh machine with Python 3.11:
#   make demo   set up .venv and walk through the whole lifecycle offline (writes only under .demo/)
#   make test   set up .venv and run ruff, mypy and pytest
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO_DIR ?= .demo

.PHONY: install mlflow-venv test lint typecheck pytest demo bench lock clean serve browser compliance-golden

# MLflow's server in a separate venv (see the `mlflow-server` extra in pyproject.toml for why).
MLFLOW_VENV  := .venv-mlflow
MLFLOW_STAMP := $(MLFLOW_VENV)/.installed-stamp
MLFLOW_REQ    = $(shell $(PYTHON) -c "import tomllib; print(' '.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['mlflow-server']))")
export MODELCTL_MLFLOW_BIN ?= $(CURDIR)/$(MLFLOW_VENV)/bin/mlflow

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e ".[all]"
	@touch $(STAMP)

install: $(STAMP)

$(MLFLOW_STAMP): pyproject.toml
	@test -x $(MLFLOW_VENV)/bin/python || $(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install -q "$(MLFLOW_REQ)"
	@touch $(MLFLOW_STAMP)

mlflow-venv: $(MLFLOW_STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) $(MLFLOW_STAMP)
	$(BIN)/pytest

# Headless Chromium for the browser test (tests/e2e/test_ui_browser.py): Debian's package, since
# playwright's own browser download fails here. Needs root and apt-get; otherwise the test skips, saying why.
browser:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	  { apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; } ; } || \
	  echo "chromium could not be installed: the browser test will be skipped"

test: lint typecheck browser pytest

demo: $(STAMP)
	@rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	PATH="$(CURDIR)/$(BIN):$$PATH" DEMO_DIR="$(CURDIR)/$(DEMO_DIR)" bash examples/demo/run.sh

# The golden compliance report of the bundled example (examples/compliance/report.md), at a frozen clock.
compliance-golden: $(STAMP)
	$(BIN)/python examples/compliance/regenerate.py

# The ops console: a Prefect server on 127.0.0.1 (unless one answers at PREFECT_API_URL), the work pool,
# prefect.yaml deployed with this directory filled in, the automations, a worker. Ctrl-C stops it all.
serve: $(STAMP)
	$(BIN)/modelctl serve

bench: $(STAMP) $(MLFLOW_STAMP)
	@for f in bench/*_bench.py; do echo "== $$f"; $(BIN)/python $$f $(BENCH_ARGS) || exit 1; done

lock: $(STAMP)
	@{ echo "# Pinned dependency set (pip freeze of a working install on Python 3.11). Regenerate with: make lock"; \
	  $(BIN)/python -m pip freeze --exclude-editable; } > requirements.lock

clean:
	rm -rf $(VENV) $(MLFLOW_VENV) $(DEMO_DIR) .mypy_cache .ruff_cache .pytest_cache
