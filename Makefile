# Two commands on a fresh clone: `make up` runs the whole system, `make test` runs the tests.
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch that lies on disk here; on a GPU machine: make up TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install up test screenshots clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	# torch named again: backtracking over the dev extras' boto3 pins otherwise re-resolves torch
	# and takes the newest release the cap allows, a multi-GB CUDA build.
	$(PY) -m pip install -q -e '.[dev]' "$(TORCH_SPEC)"
	touch $(STAMP)

install: $(STAMP)

up: install
	$(VENV)/bin/liplab up

# One BLAS thread per process: tests run API, workers and torch side by side on few cores.
test: export OMP_NUM_THREADS ?= 1
test: export MKL_NUM_THREADS ?= 1
test: install
	$(PY) -m pytest --headless -p no:cacheprovider $(PYTEST_ARGS)

# Re-take the README's pictures of every dashboard page (runs the browser tests).
screenshots: install
	LIPLAB_SCREENSHOTS=$(CURDIR)/docs/screenshots OMP_NUM_THREADS=1 $(PY) -m pytest --headless -p no:cacheprovider tests/dashboard/test_pages.py tests/dashboard/test_runs_table.py

clean:
	rm -rf $(VENV) outputs .pytest_cache
