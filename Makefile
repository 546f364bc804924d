# The README's commands. `make run` and `make test` set everything up on a fresh
# machine (idempotently): a .venv with edgecnn and its dependencies.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.edgecnn-installed

.PHONY: setup run test test-fast platform-deps mcu-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/edgecnn run

# The emulated Raspberry Pi checks (pytest -m aarch64) need qemu-user-static registered with
# binfmt_misc, and debootstrap. As root with apt-get, install/register them if missing (a failed
# install stops here); elsewhere nothing happens and those tests skip, saying what is missing.
platform-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  if ! command -v qemu-aarch64-static >/dev/null || ! command -v debootstrap >/dev/null \
	     || ! command -v update-binfmts >/dev/null; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	      qemu-user-static binfmt-support debootstrap || exit 1; \
	  fi; \
	  [ -e /proc/sys/fs/binfmt_misc/status ] \
	    || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || true; \
	  grep -qs "^enabled" /proc/sys/fs/binfmt_misc/qemu-aarch64 \
	    || update-binfmts --enable qemu-aarch64 || true; \
	fi

# The microcontroller checks (pytest -m mcu) build Cortex-M firmware with arm-none-eabi-gcc and
# boot it in qemu-system-arm. As root with apt-get, install the packages that are missing (a failed
# install stops here); elsewhere nothing happens and those tests skip, naming the missing tool.
MCU_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm
mcu-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  if ! dpkg -s $(MCU_PACKAGES) >/dev/null 2>&1; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(MCU_PACKAGES) || exit 1; \
	  fi; \
	fi

test: setup platform-deps mcu-deps
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow and not aarch64"

clean:
	rm -rf $(VENV) build *.egg-info
