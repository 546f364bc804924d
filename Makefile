# The README's commands. `make run` and `make test` set everything up on a fresh
# machine (idempotently): a .venv with edgecnn and its dependencies.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.edgecnn-installed

.PHONY: setup run test test-fast platform-deps browser-deps mcu-deps js-tools test-tools clean

# One line per step, then pip stays quiet (-qq: errors only; no setuptools blocks, and no warnings
# about this machine's pip configuration, such as find-links folders that do not exist).
# The full set ([full]: TensorFlow, Keras, tf2onnx, onnx, matplotlib) plus the test tools; the
# TensorFlow-free base level is `pip install edgecnn` (see the README's "Install" section).
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

# The emulated Raspberry Pi checks (pytest -m aarch64) need qemu-user-static registered with
# binfmt_misc, and debootstrap. As root with apt-get, install/register them if missing; any
# failed step stops here, saying which. Elsewhere nothing happens and those tests skip, saying
# that they need root (as root, a missing prerequisite fails them).
platform-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  if ! command -v qemu-aarch64-static >/dev/null || ! command -v debootstrap >/dev/null \
	     || ! command -v update-binfmts >/dev/null; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	      qemu-user-static binfmt-support debootstrap || exit 1; \
	  fi; \
	  [ -e /proc/sys/fs/binfmt_misc/status ] \
	    || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc \
	    || { echo "platform-deps: cannot mount binfmt_misc (mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc)" >&2; exit 1; }; \
	  grep -qs "^enabled" /proc/sys/fs/binfmt_misc/qemu-aarch64 \
	    || update-binfmts --enable qemu-aarch64 \
	    || { echo "platform-deps: cannot register qemu-aarch64 with binfmt_misc (update-binfmts --enable qemu-aarch64)" >&2; exit 1; }; \
	fi

# The browser checks (verify --platform browser, tests/test_web.py): Chromium from the system
# packages, Playwright from PyPI (the `test` extra; never `playwright install`, which downloads
# browsers from elsewhere), onnxruntime-web through `npm pack` into ~/.cache/edgecnn/npm (the
# version is pinned in edgecnn/web/npm.py only). As root with apt-get, missing chromium/npm are
# installed (a failed install stops here); elsewhere the browser tests skip, saying what is missing.
browser-deps: setup js-tools
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  if ! command -v chromium >/dev/null || ! command -v npm >/dev/null; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium npm || exit 1; \
	  fi; \
	fi
	@if command -v npm >/dev/null; then $(BIN)/python -m edgecnn.web.npm >/dev/null || exit 1; fi


# Tools the tests call: g++ compiles the exported C array (tests/test_c_array.py). As root with
# apt-get, installed if missing (a failed install stops here); elsewhere a missing tool fails
# the tests that need it, naming it.
test-tools:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! command -v g++ >/dev/null; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q g++ || exit 1; \
	fi

# The microcontroller checks (pytest -m mcu) build Cortex-M firmware with arm-none-eabi-gcc and
# boot it in qemu-system-arm. As root with apt-get, install the packages that are missing (a failed
# install stops here); elsewhere nothing happens and those tests fail or skip, naming the missing tool.
MCU_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm
mcu-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  if ! dpkg -s $(MCU_PACKAGES) >/dev/null 2>&1; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(MCU_PACKAGES) || exit 1; \
	  fi; \
	fi

# node runs the web page's image preparation (edgecnn/web/static/edgecnn.js) against images.py in
# the fast tests (tests/test_web.py). As root with apt-get, installed if missing.
js-tools:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! command -v node >/dev/null; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs || exit 1; \
	fi

test: setup platform-deps browser-deps mcu-deps js-tools test-tools
	$(BIN)/python -m pytest

# Quick feedback while editing (under a minute on a quiet 2-core machine): every module, no test
# over ~5 s (those are marked slow) and no emulated Pi. `make test` (CI) runs everything.
test-fast: setup test-tools js-tools
	$(BIN)/python -m pytest -m "not slow and not aarch64"

clean:
	rm -rf $(VENV) build *.egg-info
