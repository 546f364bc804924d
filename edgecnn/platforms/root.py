"""A cached arm64 Debian root with the Pi bundle's Python packages, run through qemu-user.

Built once under ``~/.cache/edgecnn/arm64`` and reused; a stamp file keyed by the recipe and
the requirements lets a second run start in seconds. The build:

1. ``debootstrap --arch=arm64 --foreign`` fetches and checks bookworm's arm64 packages
   (Raspberry Pi OS 12 is bookworm) from the first Debian mirror in the host's apt sources;
2. their files are unpacked natively (``dpkg-deb | tar``). debootstrap's second stage would
   instead run every maintainer script under emulation: 4-10 minutes here, and nothing it
   configures (users, alternatives, .pyc files) changes what Python computes. Set
   ``RootConfig.second_stage`` for the full Debian configuration;
3. a venv (``python3 -m venv --without-pip``, emulated: 2 s) receives the bundle's
   ``requirements.txt`` (+ onnxruntime) as the aarch64 wheels a Pi's pip picks, installed by
   the host's pip with ``--platform manylinux_2_X_aarch64 --python-version 3.11``. The host's
   pip configuration applies as it is, so nothing is copied into the root and no index or
   mirror address is written anywhere in edgecnn. Emulated pip took 3 minutes for the same.

Nothing here installs packages on the host: missing tools are one :class:`PlatformError`
line that says how to get them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edgecnn import fileio
from edgecnn.env import cache_dir
from edgecnn.errors import PlatformError

log = logging.getLogger(__name__)

BUNDLE_DIR = Path(__file__).resolve().parent.parent / "bundle_templates" / "pi"
CLASSIFY = BUNDLE_DIR / "classify.py"  # the Pi bundle's script: what the emulated run proves
BUNDLE_REQUIREMENTS = BUNDLE_DIR / "requirements.txt"
# classify.py runs .onnx artifacts through ONNX Runtime; the Pi bundle itself needs only LiteRT.
ONNX_REQUIREMENTS = ("onnxruntime",)

INSTALL_HINT = "apt-get install qemu-user-static binfmt-support debootstrap"
BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
BINFMT_HINT = (
    "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc && update-binfmts --enable qemu-aarch64"
)
HOST_TOOLS = ("qemu-aarch64-static", "debootstrap", "chroot", "dpkg-deb", "tar")

# Paths inside the root.
VENV = "/opt/edgecnn/venv"
WORK = "/opt/edgecnn/work"
# Bumped whenever the build steps change, so old caches are rebuilt rather than trusted.
RECIPE = 3
# What a board's 4 cores look like in /proc/cpuinfo: (variant, part, revision, kernel features).
# qemu-user shows the guest the host's x86 /proc/cpuinfo, on which ONNX Runtime's cpuinfo parser
# segfaults at import; and without /sys/devices/system/cpu/{possible,present} XNNPACK's CPU
# detection fails and it skips its Arm kernels. /proc and /sys are never mounted in the root:
# plain files there are what the guest reads, so nothing needs unmounting and nothing leaks.
CORES = {
    "cortex-a72": ("0x0", "0xd08", "3", "fp asimd evtstrm crc32 cpuid"),  # Pi 4, BCM2711 (no crypto)
    "cortex-a76": ("0x4", "0xd0b", "1", "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp "
                   "cpuid asimdrdm lrcpc dcpop asimddp"),  # Pi 5, BCM2712
}
BOARD_CPUS = 4
_CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}


@dataclass(frozen=True)
class RootConfig:
    """How the arm64 root is built."""

    cache_dir: Path = field(default_factory=lambda: cache_dir("arm64"))  # edgecnn.env.cache_dir
    suite: str = "bookworm"  # Raspberry Pi OS 12 is bookworm: same Python 3.11 and glibc as the boards
    mirror: str | None = None  # None: the first Debian mirror in the host's apt sources
    extra_requirements: tuple[str, ...] = ONNX_REQUIREMENTS
    include: tuple[str, ...] = ("python3",)  # all the bundle needs beyond minbase; pip runs on the host
    python: str = "3.11"  # bookworm's python3: which wheels pip picks
    glibc: tuple[int, int] = (2, 36)  # bookworm's glibc: the newest manylinux tag a Pi accepts
    second_stage: bool = False  # True: debootstrap's emulated second stage (full Debian configuration)
    build_timeout: float = 3600.0  # per build step; the emulated second stage alone took ~10 min loaded


# -- prerequisites -------------------------------------------------------------------------
def prerequisite_problem(
    is_root: bool, tools: Mapping[str, str | None], binfmt_mounted: bool, binfmt_entry: str | None
) -> str | None:
    """The one-line reason this machine cannot emulate arm64 (None when it can).

    ``binfmt_entry`` is the text of ``/proc/sys/fs/binfmt_misc/qemu-aarch64`` (None: absent).
    """
    if not is_root:
        return f"emulated Raspberry Pi checks need root (chroot, debootstrap): run as root; {INSTALL_HINT}"
    missing = [name for name in HOST_TOOLS if not tools.get(name)]
    if missing:
        return f"missing {', '.join(missing)} for the emulated Raspberry Pi: {INSTALL_HINT}"
    if not binfmt_mounted:
        return f"binfmt_misc is not mounted, so arm64 programs cannot run: {BINFMT_HINT}"
    if binfmt_entry is None or not binfmt_entry.startswith("enabled"):
        return "qemu-aarch64 is not registered with binfmt_misc: update-binfmts --enable qemu-aarch64"
    flags = re.search(r"^flags:\s*(\S*)", binfmt_entry, re.MULTILINE)
    if not flags or "F" not in flags.group(1):
        # Without F the kernel looks for qemu inside the root, where it is not.
        return "qemu-aarch64's binfmt entry lacks the F (fix binary) flag: install qemu-user-static (not qemu-user)"
    return None


def host_problem() -> str | None:
    """:func:`prerequisite_problem` for this machine."""
    entry_path = BINFMT_DIR / "qemu-aarch64"
    try:
        entry = entry_path.read_text() if entry_path.exists() else None
    except OSError:
        entry = None
    return prerequisite_problem(
        is_root=hasattr(os, "geteuid") and os.geteuid() == 0,
        tools={name: shutil.which(name) for name in HOST_TOOLS},
        binfmt_mounted=(BINFMT_DIR / "status").exists(),
        binfmt_entry=entry,
    )


def check_host() -> None:
    """Raise PlatformError (one line, with the fix) when this machine cannot emulate arm64."""
    problem = host_problem()
    if problem:
        raise PlatformError(problem)


# -- what the host says about mirrors and indexes ---------------------------------------------
def debian_mirror(apt_dir: Path = Path("/etc/apt")) -> str:
    """The first Debian archive URI in the host's apt sources (one-line and deb822 styles)."""
    texts: list[str] = []
    for path in [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*"))]:
        if path.is_file() and path.suffix in (".list", ".sources"):
            with contextlib.suppress(OSError):
                texts.append(path.read_text(errors="replace"))
    for text in texts:
        for uri, suites in _apt_entries(text):
            # The main archive: not a -security/-updates pocket, and a Debian path.
            if uri.rstrip("/").endswith("/debian") and any("-" not in s for s in suites):
                return uri.rstrip("/")
    raise PlatformError(
        f"no Debian mirror in {apt_dir}/sources.list(.d): add one, or set RootConfig.mirror"
    )


def _apt_entries(text: str) -> Iterator[tuple[str, list[str]]]:
    """(uri, suites) of every binary source in a sources.list or .sources file."""
    if re.search(r"^Types:", text, re.MULTILINE):  # deb822 stanzas
        for stanza in re.split(r"\n\s*\n", text):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if ":" in line and not line.lstrip().startswith("#"):
                    key, value = line.split(":", 1)
                    fields[key.strip().lower()] = value.strip()
            if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes").lower() != "no":
                for uri in fields.get("uris", "").split():
                    yield uri, fields.get("suites", "").split()
        return
    for line in text.splitlines():
        words = re.sub(r"\[[^\]]*\]", "", line.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] == "deb":
            yield words[1], [words[2]]


# -- the root ---------------------------------------------------------------------------------
def requirements(extra: tuple[str, ...] = ONNX_REQUIREMENTS) -> str:
    """The venv's requirements: the Pi bundle's requirements.txt plus ``extra``."""
    try:
        lines = [ln.strip() for ln in BUNDLE_REQUIREMENTS.read_text().splitlines()]
    except OSError as exc:
        raise PlatformError(f"{BUNDLE_REQUIREMENTS}: cannot read the Pi bundle's requirements") from exc
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    names = {re.split(r"[<>=!~\[; ]", ln, maxsplit=1)[0].lower() for ln in lines}
    lines += [e for e in extra if e.lower() not in names]
    return "\n".join(lines) + "\n"


BASE_KEYS = ("recipe", "suite", "include", "second_stage")  # what the Debian part depends on


def stamp_for(config: RootConfig, reqs: str) -> dict[str, object]:
    """What a cached root was built from; a different stamp means rebuild (only the venv if the base matches)."""
    return {
        "recipe": RECIPE,
        "suite": config.suite,
        "include": list(config.include),
        "second_stage": config.second_stage,
        "python": config.python,
        "wheel_platforms": wheel_platforms(config.glibc),
        "requirements_sha256": hashlib.sha256(reqs.encode()).hexdigest(),
    }


def wheel_platforms(glibc: tuple[int, int]) -> list[str]:
    """The wheel platform tags pip on an arm64 board with this glibc accepts, best first."""
    major, minor = glibc
    return [f"manylinux_{major}_{m}_aarch64" for m in range(minor, 16, -1)] + ["manylinux2014_aarch64", "linux_aarch64"]


def fake_cpuinfo(qemu_cpu: str) -> str:
    """/proc/cpuinfo of a 4-core board with ``qemu_cpu`` cores (other models: the A76's identity)."""
    variant, part, revision, features = CORES.get(qemu_cpu, CORES["cortex-a76"])
    return "".join(
        f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: {features}\nCPU implementer\t: 0x41\n"
        f"CPU architecture: 8\nCPU variant\t: {variant}\nCPU part\t: {part}\nCPU revision\t: {revision}\n\n"
        for i in range(BOARD_CPUS)
    )


def _present_cpu(root: Path, qemu_cpu: str) -> None:
    """Write the board's /proc/cpuinfo and CPU lists into the (unmounted) /proc and /sys of ``root``."""
    for top in ("proc", "sys"):
        # debootstrap in a container leaves ROOT/proc as a symlink to the host's /proc: writing
        # through it would touch the host, so it becomes a plain folder.
        if (root / top).is_symlink() or not (root / top).is_dir():
            (root / top).unlink(missing_ok=True)
            (root / top).mkdir()
    (root / "proc" / "cpuinfo").write_text(fake_cpuinfo(qemu_cpu))
    cpus = root / "sys" / "devices" / "system" / "cpu"
    cpus.mkdir(parents=True, exist_ok=True)
    for name in ("possible", "present", "online"):
        (cpus / name).write_text(f"0-{BOARD_CPUS - 1}\n")


@dataclass(frozen=True)
class ArmRoot:
    """A built arm64 root: ``run`` executes a command inside it under a chosen qemu CPU model."""

    path: Path
    python: str = f"{VENV}/bin/python"

    @contextlib.contextmanager
    def board(self, qemu_cpu: str) -> Iterator[None]:
        """Hold the root as a board with ``qemu_cpu`` cores (its /proc/cpuinfo is shared by all runs)."""
        with _locked(self.path.parent, ".board-lock"):
            _present_cpu(self.path, qemu_cpu)
            yield

    def run(
        self, argv: list[str], qemu_cpu: str, timeout: float, extra_env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        """``chroot ROOT argv`` with a clean environment and QEMU_CPU set explicitly.

        qemu's default model (``max``) gives wrong int8 outputs under XNNPACK: never leave it unset.
        """
        env = {**_CHROOT_ENV, "QEMU_CPU": qemu_cpu, **(extra_env or {})}
        try:
            return subprocess.run(
                ["chroot", str(self.path), *argv], env=env, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired as exc:
            raise PlatformError(f"{argv[0]} timed out after {timeout:.0f} s under qemu ({qemu_cpu})") from exc


@contextlib.contextmanager
def _locked(cache_dir: Path, name: str = ".build-lock") -> Iterator[None]:
    """One builder (or one board) at a time per cache: two pytest sessions, two terminals."""
    fileio.ensure_dir(cache_dir)
    with open(cache_dir / name, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _tail(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in ((proc.stderr or "") + (proc.stdout or "")).splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "no output"


def _step(argv: Sequence[str], what: str, timeout: float, env: Mapping[str, str] | None = None) -> None:
    log.info("%s: %s", what, " ".join(argv))
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        raise PlatformError(f"building the arm64 root: {what} timed out after {timeout:.0f} s") from exc
    if proc.returncode != 0:
        raise PlatformError(f"building the arm64 root: {what} failed (exit {proc.returncode}): {_tail(proc)}")


def _unpack_debs(root: Path, timeout: float) -> None:
    """Unpack every package debootstrap fetched, natively; directory symlinks (merged /usr) are kept."""
    debs = sorted((root / "var/cache/apt/archives").glob("*.deb"))
    if not debs:
        raise PlatformError(f"building the arm64 root: debootstrap left no packages in {root}")
    for deb in debs:
        _step(["sh", "-c", 'dpkg-deb --fsys-tarfile "$1" | tar -x --keep-directory-symlink -C "$2"', "sh",
               str(deb), str(root)], f"unpacking {deb.name}", timeout)
        deb.unlink()  # 44 MB the root never needs again


def _build_base(config: RootConfig, target: Path) -> None:
    mirror = config.mirror or debian_mirror()
    if target.exists():
        shutil.rmtree(target)  # a half-built root from an interrupted run
    _step(
        ["debootstrap", "--arch=arm64", "--foreign", "--variant=minbase", f"--include={','.join(config.include)}",
         config.suite, str(target), mirror],
        "debootstrap --foreign", config.build_timeout,
    )
    _present_cpu(target, "cortex-a72")
    if config.second_stage:
        _step(["chroot", str(target), "/debootstrap/debootstrap", "--second-stage"],
              "debootstrap --second-stage (emulated)", config.build_timeout, {**_CHROOT_ENV, "QEMU_CPU": "cortex-a72"})
    else:
        _unpack_debs(target, config.build_timeout)


def _build_venv(config: RootConfig, root: Path, reqs: str) -> None:
    venv = root / VENV.lstrip("/")
    if venv.exists():
        shutil.rmtree(venv)
    proc = ArmRoot(root).run(["/usr/bin/python3", "-m", "venv", "--without-pip", VENV], "cortex-a72",
                             config.build_timeout)
    if proc.returncode != 0:
        raise PlatformError(f"building the arm64 root: python3 -m venv failed (exit {proc.returncode}): {_tail(proc)}")
    site = venv / "lib" / f"python{config.python}" / "site-packages"
    if not site.is_dir():
        raise PlatformError(f"building the arm64 root: {site} missing; is the root's python3 {config.python}?")
    reqs_file = root / "opt" / "edgecnn" / "requirements.txt"
    fileio.write_text(reqs_file, reqs)
    # The host's pip, its own configuration, aarch64 wheels for the board's Python and glibc.
    # (pip evaluates environment markers against the host; the bundle's requirements have none.)
    argv = [sys.executable, "-m", "pip", "install", "--quiet", "--no-warn-script-location", "--target", str(site),
            "--only-binary=:all:", "--implementation", "cp", "--python-version", config.python,
            "--abi", f"cp{config.python.replace('.', '')}", "--abi", "abi3", "--abi", "none"]
    for tag in wheel_platforms(config.glibc):
        argv += ["--platform", tag]
    _step([*argv, "-r", str(reqs_file)], "pip install (host pip, aarch64 wheels)", config.build_timeout)


def ensure_root(config: RootConfig | None = None) -> ArmRoot:
    """The cached arm64 root, built first if missing or stale (minutes cold, seconds warm)."""
    config = config or RootConfig()
    check_host()
    if not CLASSIFY.is_file():
        raise PlatformError(f"{CLASSIFY}: the Pi bundle's classify.py is missing from this install")
    cache = Path(config.cache_dir).expanduser()
    reqs = requirements(config.extra_requirements)
    stamp = stamp_for(config, reqs)
    root = cache / "root"
    stamp_path = cache / "stamp.json"
    with _locked(cache):
        old = fileio.read_json(stamp_path) if stamp_path.is_file() else {}
        if all(old.get(k) == v for k, v in stamp.items()) and (root / VENV.lstrip("/") / "bin" / "python").exists():
            return ArmRoot(root)
        started = time.perf_counter()
        stamp_path.unlink(missing_ok=True)
        if not (root / "usr/bin/python3").exists() or any(old.get(k) != stamp[k] for k in BASE_KEYS):
            log.warning("building the arm64 root under %s (once; a few minutes)", cache)
            tmp = cache / "root.partial"
            _build_base(config, tmp)
            if root.exists():
                shutil.rmtree(root)
            tmp.rename(root)
        log.warning("installing the Pi bundle's requirements in the arm64 root")
        _build_venv(config, root, reqs)
        fileio.write_json(stamp_path, {**stamp, "built_seconds": round(time.perf_counter() - started, 1)})
        return ArmRoot(root)
