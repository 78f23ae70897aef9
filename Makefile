# refgan: `make run` trains the main job, `make test` runs the suite (both set up
# a virtualenv in .venv on first use; only Python >= 3.10 and make are needed).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST := $(BIN)/python -m pytest
# pytest-xdist spreads tests over the cores (one process per core, each kept to one
# BLAS/Numba thread so they do not fight over the cores); Numba's disk cache is shared.
JOBS   ?= 2
ONE_THREAD := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1

.PHONY: install run test test-slow test-gpu bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,jax]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python cli.py train --model wgan-gp

test: install
	$(ONE_THREAD) $(PYTEST) -q -n $(JOBS) -m "not slow and not gpu" tests

test-slow: install
	$(ONE_THREAD) $(PYTEST) -q -n $(JOBS) -m "slow" tests

test-gpu: install
	$(BIN)/python -m pip install -q -e '.[gpu]'
	$(PYTEST) -q -m "gpu" tests

# Benchmarks (only they) drop the OpenBLAS pins some machines set for old builds:
# OPENBLAS_CORETYPE=Haswell halves a current OpenBLAS's sgemm on AVX-512 cores.
BENCH := env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python

bench: install
	$(BENCH) bench/bench_ops.py
	$(BENCH) bench/bench_data.py
	@if $(BIN)/python -c "import torch" 2>/dev/null; then $(BENCH) bench/vs_torch.py; \
	else echo "bench/vs_torch.py skipped: pip install -e '.[bench]' for PyTorch (CPU)"; fi

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
