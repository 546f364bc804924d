#!/usr/bin/env python3
"""The system prerequisites of `make test` / `make run`, each installed only when it is missing.

Runs with the system python3 before the virtualenv exists (standard library only). The Makefile's
*-deps targets call it with one group each:

    python3 scripts/system_deps.py [--dry-run] GROUP...

Groups: platform (emulated Raspberry Pi: qemu-user-static, binfmt-support, debootstrap, then
qemu-aarch64 registered with binfmt_misc), browser (chromium, npm), mcu (the Arm toolchain and
qemu-system-arm), js (node), test-tools (g++).

Every prerequisite is checked on its own (a command on PATH, or `dpkg -s` for a package without
one) and installed on its own (one `apt-get install` per package), so one that cannot be installed
does not hold back the others. npm is never asked of apt when the installed nodejs package
provides it (NodeSource's nodejs bundles npm and conflicts with Debian's npm package). A failure
prints the command to run by hand and the script exits 1 after trying the rest.

As root with apt-get the missing packages are installed; elsewhere (or with --dry-run) the script
only prints what is missing and what it would run; the tests that need a missing tool then skip or
fail naming it. Exit codes: 0 nothing left missing (or nothing could be done here), 1 a step failed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}


@dataclass(frozen=True)
class Need:
    """One system prerequisite: the apt package that brings it and how to see it is there."""

    package: str
    command: str | None = None  # present when this command is on PATH; else `dpkg -s package`
    why: str = ""


GROUPS: dict[str, tuple[Need, ...]] = {
    "platform": (
        Need("qemu-user-static", "qemu-aarch64-static", "runs arm64 binaries (emulated Raspberry Pi)"),
        Need("binfmt-support", "update-binfmts", "registers qemu-aarch64 with binfmt_misc"),
        Need("debootstrap", "debootstrap", "builds the arm64 root"),
    ),
    "browser": (
        Need("chromium", "chromium", "the browser checks (headless Chromium through Playwright)"),
        Need("npm", "npm", "fetches onnxruntime-web (npm pack)"),
    ),
    "mcu": (
        Need("gcc-arm-none-eabi", "arm-none-eabi-gcc", "builds the Cortex-M firmware"),
        Need("libnewlib-arm-none-eabi", None, "the firmware's C library"),
        Need("libstdc++-arm-none-eabi-newlib", None, "the firmware's C++ library"),
        Need("qemu-system-arm", "qemu-system-arm", "boots the Cortex-M firmware"),
    ),
    "js": (Need("nodejs", "node", "runs the web page's image preparation in the fast tests"),),
    "test-tools": (Need("g++", "g++", "compiles the exported C array"),),
}


def _quiet(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def is_present(need: Need) -> bool:
    """Whether the prerequisite is already on this machine (its command on PATH, else dpkg says so)."""
    if need.command is not None:
        return shutil.which(need.command) is not None
    return shutil.which("dpkg") is not None and _quiet(["dpkg", "-s", need.package]).returncode == 0


def nodejs_provides_npm() -> bool:
    """Whether the installed nodejs package bundles npm (NodeSource's: `Provides: ... npm`).

    Such a nodejs conflicts with Debian's npm package: `apt-get install npm` would fail
    ("nodejs : Conflicts: npm"), so npm is never asked of apt then.
    """
    if shutil.which("dpkg-query") is None:
        return False
    out = subprocess.run(["dpkg-query", "-W", "-f=${Provides}", "nodejs"], capture_output=True, text=True,
                         check=False)
    provides = [p.strip().split(" ")[0] for p in out.stdout.split(",")] if out.returncode == 0 else []
    return "npm" in provides


def missing(groups: list[str]) -> tuple[list[Need], list[str]]:
    """The packages to install for these groups, in order, and notes about what cannot be installed.

    Returns:
        (needs, notes): needs one per missing package; notes say what is missing but not
        installable by apt here (npm when nodejs bundles it yet it is not on PATH).
    """
    needs: list[Need] = []
    notes: list[str] = []
    for group in groups:
        for need in GROUPS[group]:
            if is_present(need) or need in needs:
                continue
            if need.package == "npm" and nodejs_provides_npm():
                notes.append("npm: the installed nodejs bundles npm but `npm` is not on PATH; "
                             "reinstall nodejs (apt-get install --reinstall nodejs), never Debian's npm over it")
                continue
            needs.append(need)
    return needs, notes


def binfmt_steps(binfmt_dir: Path) -> list[list[str]]:
    """The commands that mount binfmt_misc and register qemu-aarch64, those not already done."""
    steps = []
    if not (binfmt_dir / "status").exists():
        steps.append(["mount", "-t", "binfmt_misc", "binfmt_misc", str(binfmt_dir)])
    entry = binfmt_dir / "qemu-aarch64"
    if not (entry.exists() and entry.read_text(errors="replace").startswith("enabled")):
        steps.append(["update-binfmts", "--enable", "qemu-aarch64"])
    return steps


def _can_install() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def _run_step(args: list[str], dry_run: bool) -> bool:
    print("system-deps: " + ("would run: " if dry_run else "") + " ".join(args), flush=True)
    if dry_run:
        return True
    return subprocess.run(args, env={**os.environ, **APT_ENV}, check=False).returncode == 0


def install(groups: list[str], dry_run: bool = False, binfmt_dir: Path | None = None) -> int:
    """Install what these groups miss (each package on its own); the exit code of the script."""
    needs, notes = missing(groups)
    for note in notes:
        print(f"system-deps: {note}", file=sys.stderr)
    for need in needs:
        print(f"system-deps: missing {need.package} ({need.why})", flush=True)
    able = dry_run or _can_install()
    if not able:
        if needs:
            print("system-deps: not root with apt-get, so nothing is installed; the tests that need these skip "
                  "or fail naming them. As root: apt-get install " + " ".join(n.package for n in needs),
                  file=sys.stderr)
        return 0
    failed: list[str] = []
    if needs and not _run_step(["apt-get", "update", "-q"], dry_run):
        failed.append("apt-get update")
    for need in needs:  # one package per install: one that conflicts does not hold back the rest
        if not _run_step(["apt-get", "install", "-y", "-q", need.package], dry_run):
            failed.append(f"apt-get install {need.package}")
    if "platform" in groups and binfmt_dir is not None and (dry_run or shutil.which("update-binfmts")):
        for step in binfmt_steps(binfmt_dir):
            if not _run_step(step, dry_run):
                failed.append(" ".join(step))
                break
    for step in failed:
        print(f"system-deps: failed: {step}; run it by hand (as root) and see its message", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("groups", nargs="+", choices=sorted(GROUPS))
    parser.add_argument("--dry-run", action="store_true", help="print what would be installed, install nothing")
    args = parser.parse_args(argv)
    binfmt = Path(os.environ.get("EDGECNN_BINFMT_DIR", "/proc/sys/fs/binfmt_misc"))
    return install(args.groups, dry_run=args.dry_run, binfmt_dir=binfmt)


if __name__ == "__main__":
    sys.exit(main())
