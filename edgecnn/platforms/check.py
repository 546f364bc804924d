"""Run the Pi bundle's classify.py on a platform and compare its probabilities with Keras.

Natively it runs under this interpreter; emulated it runs inside the cached arm64 root
under ``QEMU_CPU`` set to the board's core. Either way the bundle's own script does the
preprocessing and inference, so the bundle itself is what is proven. Emulated wall times
are meaningless as performance and are never reported.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.runtime import file_precision
from edgecnn.errors import InputError, ModelError, PlatformError
from edgecnn.platforms.registry import NATIVE, Platform, checker, resolve
from edgecnn.platforms.root import CLASSIFY, WORK, RootConfig, ensure_root
from edgecnn.isolation import signal_name
from edgecnn.parity import Tolerance, compare_with_keras, interval_text

log = logging.getLogger(__name__)

RUN_TIMEOUT = 900.0  # seconds per classify.py call; 1,000 images take well under a minute emulated
NOTE = "emulated with qemu-user: proves outputs only; emulated timings are not performance figures"
HOST = "the same file in edgecnn's runtime on this machine"  # what a lossy file's run must reproduce


# -- running classify.py ----------------------------------------------------------------------
Runner = Callable[[list[str]], subprocess.CompletedProcess]


def _check_inputs(model_paths: Iterable[str | Path], images: np.ndarray) -> tuple[list[Path], np.ndarray]:
    paths = [Path(p) for p in model_paths]
    for path in paths:
        if path.suffix not in (".tflite", ".onnx"):
            raise ModelError(f"{path}: not a model file classify.py can run (expected .tflite or .onnx)")
        if not path.is_file():
            raise ModelError(f"{path}: file not found")
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise InputError(f"images must be uint8 (N, H, W) or (N, H, W, C), got {images.dtype} {images.shape}")
    return paths, images


def _failure(proc: subprocess.CompletedProcess) -> str:
    if proc.returncode < 0:
        return f"killed by {signal_name(proc.returncode)}"
    lines = [ln for ln in (proc.stderr or "").splitlines() if ln.strip()]
    return f"exit {proc.returncode}: {lines[-1][:300] if lines else 'no error output'}"


def _classify_all(
    run: Runner, host_dir: Path, guest_dir: str, paths: Sequence[Path], images: np.ndarray, where: str
) -> dict[Path, np.ndarray]:
    """Copy the script, images and models into ``host_dir`` (seen as ``guest_dir``) and run each model."""
    shutil.copyfile(CLASSIFY, host_dir / "classify.py")
    np.save(host_dir / "images.npy", images)
    results: dict[Path, np.ndarray] = {}
    for i, path in enumerate(paths):
        name = f"{i}-{path.name}"  # two artifacts may share a file name
        shutil.copyfile(path, host_dir / name)
        proc = run([f"{guest_dir}/classify.py", "--model", f"{guest_dir}/{name}",
                    "--npy", f"{guest_dir}/images.npy", "--save-probs", f"{guest_dir}/{name}.probs.npy"])
        if proc.returncode != 0:
            raise PlatformError(f"{where}: classify.py failed on {path.name} ({_failure(proc)})")
        probs = np.load(host_dir / f"{name}.probs.npy", allow_pickle=False)
        if probs.ndim != 2 or len(probs) != len(images):
            raise PlatformError(f"{where}: classify.py gave {probs.shape} for {path.name}, expected ({len(images)}, K)")
        results[path] = probs.astype(np.float32, copy=False)
    return results


def run_on_platform(
    platform: Platform,
    model_paths: Iterable[str | Path],
    images_uint8: np.ndarray,
    *,
    config: RootConfig | None = None,
    timeout: float = RUN_TIMEOUT,
) -> dict[Path, np.ndarray]:
    """Probabilities (N x K) of each model on ``platform``, computed by the Pi bundle's classify.py."""
    paths, images = _check_inputs(model_paths, images_uint8)
    if not platform.emulated:
        def run_native(argv: list[str]) -> subprocess.CompletedProcess:
            try:
                return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired as exc:
                raise PlatformError(f"{platform.key}: classify.py timed out after {timeout:.0f} s") from exc

        with tempfile.TemporaryDirectory(prefix="edgecnn-native-") as tmp:
            return _classify_all(run_native, Path(tmp), tmp, paths, images, platform.key)

    root = ensure_root(config)
    guest = f"{WORK}/{uuid.uuid4().hex}"
    host = root.path / guest.lstrip("/")
    host.mkdir(parents=True)
    cpu = platform.qemu_cpu or ""
    try:
        with root.board(cpu):
            return _classify_all(
                lambda argv: root.run([root.python, *argv], cpu, timeout), host, guest, paths, images, platform.key
            )
    finally:
        shutil.rmtree(host, ignore_errors=True)


def _entry(path: Path, probs: np.ndarray, precision: str, keras_probs: np.ndarray, labels: np.ndarray | None,
           tolerances: Mapping[str, Tolerance] | None, host: np.ndarray | None, native: np.ndarray | None,
           available: int | None) -> dict[str, Any]:
    """One artifact's entry on one platform: parity with Keras (a reproduction of ``host`` for a lossy
    file) and, on an emulated platform, ``vs_native``: against the same file on this machine."""
    entry = {"format": path.suffix.lstrip("."), "precision": precision,
             **compare_with_keras(probs, keras_probs, labels, precision, tolerances,
                                  host_probs=host, host=HOST, available=available)}
    if native is not None:
        entry["vs_native"] = {"agreement": float(np.mean(probs.argmax(1) == native.argmax(1))),
                              "max_abs_diff": float(np.max(np.abs(probs - native)))}
    return entry


def verify_platforms(
    platforms: Iterable[Platform],
    model_paths: Iterable[str | Path],
    images_uint8: np.ndarray,
    labels: np.ndarray | None,
    keras_probs: np.ndarray,
    *,
    config: RootConfig | None = None,
    runner: Callable[..., dict[Path, np.ndarray]] = run_on_platform,
    tolerances: Mapping[str, Tolerance] | None = None,
    precisions: Mapping[Path, str] | None = None,
    host_probs: Mapping[Path, np.ndarray] | None = None,
    available: int | None = None,
) -> dict[str, dict[str, Any]]:
    """The ``platforms`` section of verify.json: per platform, per artifact, parity with Keras.

    ``precisions`` (e.g. from the verify rows) saves loading the files again to read theirs.
    ``host_probs``: each file's own output on these images in edgecnn's runtime here (verify's
    rows; computed when missing): a lossy file must reproduce it (parity.compare_with_keras),
    its agreement with Keras is reported beside. ``available``: test images there are in all.

    This machine (``x86_64-native``) always comes first, so every emulated artifact is also
    compared with the native result of the same file (``vs_native``).
    """
    paths = [Path(p) for p in model_paths]
    # Precision from the file (its metadata, then the manifest), never from its name.
    precisions = {path: (dict(precisions or {}).get(path) or file_precision(path)) for path in paths}
    host = {path: probs for path, probs in dict(host_probs or {}).items() if path in precisions}
    for path in paths:
        if path not in host and path.is_file():  # the same file in edgecnn's runtime here
            from edgecnn.runtime import load

            host[path] = load(path).predict(images_uint8)
    wanted = [NATIVE, *[p for p in platforms if p != NATIVE]]
    section: dict[str, dict[str, Any]] = {}
    native: dict[Path, np.ndarray] = {}
    for plat in wanted:
        log.info("checking %d artifacts on %s", len(paths), plat.key)
        probs = runner(plat, paths, images_uint8, config=config)
        if not plat.emulated:
            native = probs
        artifacts = {path.name: _entry(path, probs[path], precisions[path], keras_probs, labels, tolerances,
                                       host.get(path), native.get(path) if plat.emulated else None, available)
                     for path in paths}
        section[plat.key] = {
            **plat.to_json(),
            "runner": "Pi bundle classify.py",
            "samples": int(len(images_uint8)),
            "passed": all(a["passed"] for a in artifacts.values()),
            "artifacts": artifacts,
            **({"note": NOTE} if plat.emulated else {}),
        }
    return section


def check_pi(
    platforms: list[Platform], report, mnist, samples: int = 1000,
    tolerances: Mapping[str, Tolerance] | None = None, echo: Callable[[str], None] = log.info,
) -> dict[str, dict[str, Any]]:
    """The checker of kind ``pi``: the Pi bundle's classify.py natively and on emulated Pi CPUs."""
    # App variants (export/app.py) are for phone frameworks, not in the Pi bundle (classify.py feeds the model's input).
    rows = [row for row in report.rows if row.error is None and not str(row.precision).endswith("_app")]
    paths = [row.path for row in rows]
    n = min(samples, len(mnist.x_test))
    echo(f"Checking {len(paths)} artifact(s) on {', '.join(p.key for p in platforms)} with the Pi "
         f"bundle's classify.py ({n:,} test images; emulated: outputs only, never timings)")
    return verify_platforms(platforms, paths, mnist.x_test[:n], None if mnist.y_test is None else mnist.y_test[:n],
                            report.keras_probabilities[:n], tolerances=tolerances,
                            precisions={row.path: row.precision for row in rows},
                            host_probs=host_outputs(rows, n), available=len(mnist.x_test))


def host_outputs(rows, n: int) -> dict[Path, np.ndarray]:
    """Each verify row's own probabilities on the first ``n`` test images (where it kept them)."""
    return {Path(row.path): np.asarray(row.probabilities[:n]) for row in rows
            if getattr(row, "probabilities", None) is not None}


def check_verified(
    names: Iterable[str], report, mnist, samples: int = 1000,
    tolerances: Mapping[str, Tolerance] | None = None, echo: Callable[[str], None] = log.info,
) -> dict[str, dict[str, Any]]:
    """The ``platforms`` section for the artifacts of a ``verify`` report that loaded here.

    ``report`` is an ``edgecnn.verify.VerifyReport`` (its Keras probabilities are reused);
    the first ``samples`` test images of ``mnist`` are run. Platforms are grouped by kind and
    each kind's checker (``registry.CHECKERS``) runs its group.
    """
    by_kind: dict[str, list[Platform]] = {}
    for plat in resolve(names):
        by_kind.setdefault(plat.kind, []).append(plat)
    section: dict[str, dict[str, Any]] = {}
    for kind, group in by_kind.items():
        section.update(checker(kind)(group, report, mnist, samples, tolerances, echo))
    return section


def platform_errors(section: dict[str, dict[str, Any]] | None) -> list[str]:
    """The one-line errors of platform checks that could not finish (a native crash, a failed build)."""
    return [row["error"] for entry in (section or {}).values()
            for row in (entry.get("artifacts") or {}).values() if row.get("error")]


def format_platforms(section: dict[str, dict[str, Any]]) -> str:
    """The platforms section as a console table: platform, file, agreement with Keras, max |Δ|, verdict,
    and what the verdict compared (a lossy file: the same file's output here; a float file: Keras)."""
    lines = [f"{'platform':30s}  {'file':26s}  {'agreement':>9s}  {'max |Δ|':>8s}  verdict"]
    for key, entry in section.items():
        for name, row in entry["artifacts"].items():
            if "error" in row:  # the check could not finish (e.g. a native crash): its one line
                lines.append(f"{key:30s}  {name:26s}  {'-':>9s}  {'-':>8s}  ERROR: {row['error']}")
                continue
            if "agreement" not in row:  # not run there (e.g. a file MediaPipe refuses): its reason
                lines.append(f"{key:30s}  {name:26s}  {'-':>9s}  {'-':>8s}  {row['status']}: {row.get('refused', '')}")
                continue
            lines.append(f"{key:30s}  {name:26s}  {row['agreement']:9.2%}  {row['max_abs_diff']:8.1e}  {row['status']}")
            lines.append(f"{'':30s}  {platform_summary(row)}")
    return "\n".join(lines)


def platform_summary(entry: dict[str, Any]) -> str:
    """What a platform entry compared, in a few words: "vs host: same top-1 on 300/300, max |Δ| 3.9e-03;
    vs Keras 99.67 % (98.1–99.9 %)"."""
    lo, hi = entry.get("agreement_interval") or (0.0, 1.0)
    keras = f"Keras {100 * entry.get('agreement', 0.0):.2f} % ({interval_text(lo, hi)} %)"
    host = entry.get("vs_host")
    if not host or entry.get("judged_against") == "Keras":
        return f"against {keras}"
    n = int(entry.get("samples") or 0)
    same, ties = n - int(host.get("differing_images") or 0), int(host.get("near_ties") or 0)
    worst = host.get("max_abs_diff")
    return (f"against {host['against']}: same top-1 on {same:,}/{n:,}{f' ({ties} near-tie)' if ties else ''}, "
            f"max |Δ| {'-' if worst is None else f'{worst:.1e}'}; {keras}, for information")
