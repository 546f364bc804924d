"""scripts/system_deps.py, the Makefile's *-deps decisions (#23 point 1), against a stubbed machine:
PATH holds only fake commands (node, chromium, npm, dpkg, dpkg-query, apt-get) that this test writes,
apt-get logs what it was asked instead of installing, and binfmt_misc is a temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "system_deps.py"
IS_ROOT = os.geteuid() == 0


def _stub(bin_dir: Path, name: str, body: str = "exit 0") -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def _machine(tmp_path: Path, commands: set[str], dpkg_installed: set[str] = frozenset(),
             nodejs_provides: str = "", apt_fails: set[str] = frozenset()) -> dict:
    """A fake machine: the commands on PATH, the packages dpkg knows, nodejs's Provides field."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    for command in commands:
        _stub(bin_dir, command)
    installed = " ".join(sorted(dpkg_installed))
    _stub(bin_dir, "dpkg", f'for p in {installed or "none-at-all"}; do [ "$2" = "$p" ] && exit 0; done; exit 1')
    if nodejs_provides:
        _stub(bin_dir, "dpkg-query", f'printf "%s" "{nodejs_provides}"')
    fails = " ".join(sorted(apt_fails)) or "none-at-all"
    _stub(bin_dir, "apt-get", f'echo "$@" >> {log}\n'
                              f'for p in {fails}; do [ "$4" = "$p" ] && {{ echo "E: Conflicts" >&2; exit 100; }}; done\n'
                              "exit 0")
    binfmt = tmp_path / "binfmt_misc"
    binfmt.mkdir()
    return {"PATH": str(bin_dir), "EDGECNN_BINFMT_DIR": str(binfmt), "log": log, "binfmt": binfmt}


def _run(machine: dict, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": machine["PATH"], "EDGECNN_BINFMT_DIR": machine["EDGECNN_BINFMT_DIR"]}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=60)


def _planned(result: subprocess.CompletedProcess) -> list[str]:
    """The packages a --dry-run would install, in order."""
    prefix = "system-deps: would run: apt-get install -y -q "
    return [line[len(prefix):] for line in result.stdout.splitlines() if line.startswith(prefix)]


NODESOURCE_PROVIDES = "nodejs-dev, nodejs-doc, nodejs-legacy, npm"


def test_node_with_bundled_npm_and_no_chromium_asks_for_chromium_only(tmp_path):
    machine = _machine(tmp_path, {"node", "npm"}, nodejs_provides=NODESOURCE_PROVIDES)
    result = _run(machine, "--dry-run", "browser", "js")
    assert result.returncode == 0, result.stderr
    assert _planned(result) == ["chromium"]
    assert "would run: apt-get update -q" in result.stdout


def test_nodejs_that_provides_npm_never_gets_debians_npm_even_when_npm_is_off_path(tmp_path):
    machine = _machine(tmp_path, {"node", "chromium"}, nodejs_provides=NODESOURCE_PROVIDES)
    result = _run(machine, "--dry-run", "browser")
    assert _planned(result) == []
    assert "bundles npm but `npm` is not on PATH" in result.stderr and "never Debian's npm" in result.stderr


def test_neither_chromium_nor_npm_asks_for_both_each_on_its_own(tmp_path):
    machine = _machine(tmp_path, {"node"}, nodejs_provides="nodejs-doc")  # Debian's nodejs: npm apart
    result = _run(machine, "--dry-run", "browser")
    assert result.returncode == 0
    assert _planned(result) == ["chromium", "npm"]


def test_nothing_missing_asks_for_nothing(tmp_path):
    commands = {"node", "npm", "chromium", "qemu-aarch64-static", "update-binfmts", "debootstrap",
                "arm-none-eabi-gcc", "qemu-system-arm", "g++"}
    machine = _machine(tmp_path, commands, dpkg_installed={"libnewlib-arm-none-eabi", "libstdc++-arm-none-eabi-newlib"},
                       nodejs_provides=NODESOURCE_PROVIDES)
    (machine["binfmt"] / "status").write_text("enabled\n")
    (machine["binfmt"] / "qemu-aarch64").write_text("enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n")
    result = _run(machine, "--dry-run", "platform", "browser", "mcu", "js", "test-tools")
    assert result.returncode == 0
    assert result.stdout == "" and result.stderr == ""


def test_qemu_and_arm_toolchain_only_the_missing_packages(tmp_path):
    # qemu-user-static present, debootstrap and binfmt-support missing; of the Arm toolchain only
    # the C++ library is missing (dpkg knows the rest).
    machine = _machine(tmp_path, {"qemu-aarch64-static", "arm-none-eabi-gcc", "qemu-system-arm"},
                       dpkg_installed={"libnewlib-arm-none-eabi"})
    result = _run(machine, "--dry-run", "platform", "mcu")
    assert _planned(result) == ["binfmt-support", "debootstrap", "libstdc++-arm-none-eabi-newlib"]
    # binfmt_misc is not mounted in the fake /proc: mount, then register.
    assert f"would run: mount -t binfmt_misc binfmt_misc {machine['binfmt']}" in result.stdout
    assert "would run: update-binfmts --enable qemu-aarch64" in result.stdout


def test_registered_binfmt_is_left_alone(tmp_path):
    machine = _machine(tmp_path, {"qemu-aarch64-static", "update-binfmts", "debootstrap"})
    (machine["binfmt"] / "status").write_text("enabled\n")
    (machine["binfmt"] / "qemu-aarch64").write_text("enabled\n")
    result = _run(machine, "--dry-run", "platform")
    assert result.stdout == ""


@pytest.mark.skipif(not IS_ROOT, reason="installs only as root (the stubbed apt-get is called for real)")
def test_as_root_a_failed_install_names_the_command_and_the_others_still_install(tmp_path):
    machine = _machine(tmp_path, {"node"}, nodejs_provides="nodejs-doc", apt_fails={"chromium"})
    result = _run(machine, "browser")
    assert result.returncode == 1
    assert machine["log"].read_text().splitlines() == [
        "update -q", "install -y -q chromium", "install -y -q npm"]
    assert "system-deps: failed: apt-get install chromium; run it by hand" in result.stderr


@pytest.mark.skipif(not IS_ROOT, reason="installs only as root (the stubbed apt-get is called for real)")
def test_as_root_nothing_missing_calls_apt_not_at_all(tmp_path):
    machine = _machine(tmp_path, {"node", "npm", "chromium", "g++"}, nodejs_provides=NODESOURCE_PROVIDES)
    result = _run(machine, "browser", "js", "test-tools")
    assert result.returncode == 0 and not machine["log"].exists()
