# The README's commands. `make run` and `make test` set everything up on a fresh
# machine (idempotently): a .venv with edgecnn and its dependencies.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.edgecnn-installed

.PHONY: setup run lint test test-fast platform-deps browser-deps mcu-deps js-tools test-tools clean

# One line per step, then pip stays quiet (-qq: errors only; no setuptools blocks, and no warnings
# about this machine's pip configuration, such as find-links folders that do not exist).
# The full set ([full]: TensorFlow, Keras, tf2onnx, onnx, matplotlib) plus the test tools; the
# TensorFlow-free base level is `pip install .` (see the README's "Install" section).
$(STAMP): pyproject.toml
	@echo "setup 1/3: virtualenv $(VENV)"
	@$(PYTHON) -m venv $(VENV)
	@echo "setup 2/3: pip upgrade"
	@$(BIN)/python -m pip install -qq --disable-pip-version-check --upgrade pip
	@echo "setup 3/3: pip install -e '.[full,test]' (TensorFlow included; about 30 s from the pip cache)"
	@$(BIN)/python -m pip install -qq --disable-pip-version-check -e '.[full,test]'
	@touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/edgecnn run

# System prerequisites: scripts/system_deps.py (system python3, before the venv exists) checks
# each one on its own and, as root with apt-get, installs only the missing ones, one package per
# `apt-get install` (never Debian's npm over a nodejs that bundles npm); a failed step prints what
# to run by hand and stops here. Elsewhere it only says what is missing, and the tests that need
# it skip or fail naming it. `python3 scripts/system_deps.py --dry-run GROUP` shows the plan.
SYSTEM_DEPS := $(PYTHON) scripts/system_deps.py

# The emulated Raspberry Pi checks (pytest -m aarch64): qemu-user-static registered with
# binfmt_misc (mounted and registered here when missing), and debootstrap.
platform-deps:
	@$(SYSTEM_DEPS) platform

# The browser checks (verify --platform browser, tests/test_web.py): Chromium from the system
# packages, Playwright from PyPI (the `test` extra; never `playwright install`, which downloads
# browsers from elsewhere), onnxruntime-web through `npm pack` into ~/.cache/edgecnn/npm (the
# version is pinned in edgecnn/web/npm.py only).
browser-deps: setup js-tools
	@$(SYSTEM_DEPS) browser
	@if command -v npm >/dev/null; then $(BIN)/python -m edgecnn.web.npm >/dev/null || exit 1; fi

# Tools the tests call: g++ compiles the exported C array (tests/test_c_array.py).
test-tools:
	@$(SYSTEM_DEPS) test-tools

# The microcontroller checks (pytest -m mcu) build Cortex-M firmware with arm-none-eabi-gcc and
# boot it in qemu-system-arm.
mcu-deps:
	@$(SYSTEM_DEPS) mcu

# node runs the web page's image preparation (edgecnn/web/static/edgecnn.js) against images.py in
# the fast tests (tests/test_web.py).
js-tools:
	@$(SYSTEM_DEPS) js

# ruff and mypy over edgecnn/ (their rules: [tool.ruff] and [tool.mypy] in pyproject.toml).
lint: setup
	$(BIN)/ruff check edgecnn
	$(BIN)/mypy

test: setup lint platform-deps browser-deps mcu-deps js-tools test-tools
	$(BIN)/python -m pytest

# Quick feedback while editing (under a minute on a quiet 2-core machine): every module, no test
# over ~5 s (those are marked slow) and no emulated Pi. `make test` (CI) runs everything.
test-fast: setup test-tools js-tools
	$(BIN)/python -m pytest -m "not slow and not aarch64"

clean:
	rm -rf $(VENV) build *.egg-info
