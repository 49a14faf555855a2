# Two commands on a fresh clone: `make up` runs the whole system, `make test` runs the tests.
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch that lies on disk here; on a GPU machine: make up TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install up test bench screenshots clean

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

# The peers of `make bench` (MLflow, TensorBoard, PyHessian) in their own venv, torch first so
# that nothing pulls a CUDA torch; one package at a time, so a peer that will not install only
# leaves its figure out (its table says "not installed").
BENCH_VENV ?= .venv-bench
BENCH_PY := $(BENCH_VENV)/bin/python
BENCH_STAMP := $(BENCH_VENV)/.installed
# What `make bench` needs of liplab's own venv (BENCH_DEPS= to use an existing PY as it is).
BENCH_DEPS ?= install
QUICK ?=
BENCH_ARGS ?=

$(BENCH_STAMP): bench/requirements-peers.txt
	test -x $(BENCH_PY) || python3 -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install -q "$(TORCH_SPEC)"
	grep -v '^\s*#' bench/requirements-peers.txt | grep -v '^\s*$$' | while read -r req; do \
	  $(BENCH_PY) -m pip install -q "$$req" || echo "make bench: peer $$req not installed"; done
	touch $(BENCH_STAMP)

# Every benchmark beside its peer; rewrites docs/benchmarks.md's generated part and its plots.
# QUICK=1: the whole suite in under 5 minutes. BENCH_ARGS='--only ingest,overhead', '--device cuda'.
bench: export OMP_NUM_THREADS ?= 1
bench: export MKL_NUM_THREADS ?= 1
bench: $(BENCH_DEPS) $(BENCH_STAMP)
	LIPLAB_BENCH_PEERS=$(CURDIR)/$(BENCH_PY) PYTHONPATH=$(CURDIR) $(PY) bench/run.py $(if $(QUICK),--quick) $(BENCH_ARGS)

# Re-take the README's pictures of every dashboard page (runs the browser tests).
screenshots: install
	LIPLAB_SCREENSHOTS=$(CURDIR)/docs/screenshots OMP_NUM_THREADS=1 $(PY) -m pytest --headless -p no:cacheprovider tests/dashboard/test_pages.py tests/dashboard/test_runs_table.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) outputs .pytest_cache
