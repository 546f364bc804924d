"""Checker of kind ``mediapipe`` (``verify --platform mediapipe``): the files in the real app client.

MediaPipe Tasks' ``ImageClassifier`` is the same C++ task on Android, iOS, the web and in
Python (``pip install mediapipe``, pinned in the ``test`` extra, never in the base install).
Each verified ``.tflite`` is handed to it as an app would hand it over: created from the file
alone (its TFLite Model Metadata says the normalization and holds the labels), fed the test
images as RGB pictures (grey ones as R = G = B, what a phone camera or a PNG decoder gives),
every category asked for. The scores are compared with Keras at ``verify``'s tolerances of the
file's precision, and the category names must be the file's own labels. A file MediaPipe
refuses (an int8 input, a grey input) is recorded with MediaPipe's own message and not run;
the platform passes when at least one file ran and every file that ran passed.

MediaPipe is native code: each file runs in a child process (a crash fails that file only).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.errors import PlatformError
from edgecnn.parity import Tolerance, compare_with_keras
from edgecnn.platforms.registry import Platform

log = logging.getLogger(__name__)

PINNED = "mediapipe==1.2.3"  # the version measured here (pyproject's `test` extra)
CHILD_TIMEOUT_S = 600


def rgb_pictures(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, 3): grey test images as R = G = B, RGB ones as they are."""
    x = np.asarray(images, np.uint8)
    if x.ndim == 3:
        x = x[..., np.newaxis]
    return np.ascontiguousarray(np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x)


def mediapipe_version() -> str | None:
    """The installed mediapipe's version, None when it is not installed (never imports it)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mediapipe")
    except PackageNotFoundError:
        return None


def classify(path: Path, pictures: np.ndarray) -> dict[str, Any]:
    """MediaPipe ImageClassifier on ``pictures`` (uint8 N x H x W x 3), in a child process.

    Returns:
        ``{"scores": N x K float32 (0 for categories not returned), "names": [category name by index],
        "returned": fewest categories returned for one picture}``,
        or ``{"refused": MediaPipe's message}`` when it does not accept the file.
    """
    with tempfile.TemporaryDirectory(prefix="edgecnn-mediapipe-") as tmp:
        images, out = Path(tmp) / "images.npy", Path(tmp) / "out.npz"
        np.save(images, pictures)
        code = f"from edgecnn.platforms.mediapipe import _child; _child({str(path)!r}, {str(images)!r}, {str(out)!r})"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=CHILD_TIMEOUT_S, check=False)
        if proc.returncode != 0 or not out.is_file():
            raise PlatformError(f"{path.name}: MediaPipe's child process failed (exit {proc.returncode}): "
                                f"{_last_line(proc.stderr)}")
        with np.load(out, allow_pickle=False) as z:
            result = json.loads(str(z["record"]))
            if "refused" not in result:
                result["scores"] = z["scores"]
        return result


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def _child(model: str, images: str, out: str) -> None:
    """Runs in the child: create the classifier from the file alone, classify every picture."""
    import mediapipe as mp
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from mediapipe.tasks.python.vision import image_classifier

    pictures = np.load(images)
    options = image_classifier.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=model))
    try:
        classifier = image_classifier.ImageClassifier.create_from_options(options)
    except (ValueError, RuntimeError, FileNotFoundError) as exc:  # what MediaPipe says about a file it does not take
        np.savez(out, record=json.dumps({"refused": _last_line(str(exc))}))
        return
    rows, names = [], {}
    with classifier:
        for picture in pictures:
            result = classifier.classify(mp.Image(image_format=mp.ImageFormat.SRGB, data=picture))
            categories = result.classifications[0].categories
            rows.append([(c.index, float(c.score)) for c in categories])
            names.update({c.index: c.category_name or "" for c in categories})
    k = 1 + max(names) if names else 0
    scores = np.zeros((len(rows), k), np.float32)
    for i, row in enumerate(rows):
        for index, score in row:
            scores[i, index] = score
    record = {"names": [names.get(i, "") for i in range(k)], "returned": min(len(r) for r in rows) if rows else 0}
    np.savez(out, record=json.dumps(record), scores=scores)


HOST = "the same file in edgecnn's runtime on this machine"  # what MediaPipe must reproduce (lossy files)


def check_file(path: Path, pictures: np.ndarray, keras: np.ndarray, labels, precision: str,
               tolerances: Mapping[str, Tolerance] | None, host_probs: np.ndarray | None = None,
               available: int | None = None) -> dict[str, Any]:
    """One file through MediaPipe: parity with Keras (a lossy file: with ``host_probs``, the same
    file's own output here, which it must reproduce) and where the category names came from."""
    from edgecnn.runtime import load
    from edgecnn.runtime.model_metadata import read_model_metadata

    result = classify(path, pictures)
    if "refused" in result:
        return {"format": "tflite", "precision": precision, "status": "REFUSED", "passed": None,
                "refused": result["refused"]}
    scores = result["scores"]
    if scores.shape[1] != keras.shape[1]:
        raise PlatformError(f"{path.name}: MediaPipe returned {scores.shape[1]} categories, the model has "
                            f"{keras.shape[1]}")
    entry = compare_with_keras(scores, keras, labels, precision, tolerances, host_probs=host_probs, host=HOST,
                               available=available)
    standard = read_model_metadata(path.read_bytes())
    file_labels = list(standard.labels) if standard is not None else []
    names = result["names"]
    names_ok = bool(file_labels) and names == file_labels and file_labels == list(load(path).spec.labels)
    entry["category_names"] = {"from_file": names_ok, "names": names[:20], "file_labels": file_labels[:20]}
    entry["passed"] = bool(entry["passed"] and names_ok)
    entry["status"] = "PASS" if entry["passed"] else "FAIL"
    return {"format": "tflite", "precision": precision, **entry}


def check_mediapipe(
    platforms: list[Platform], report, data, samples: int = 1000,
    tolerances: Mapping[str, Tolerance] | None = None, echo: Callable[[str], None] = log.info,
) -> dict[str, dict[str, Any]]:
    """The checker of kind ``mediapipe``: every verified .tflite in MediaPipe Tasks' ImageClassifier."""
    version = mediapipe_version()
    if version is None:
        raise PlatformError(f"--platform mediapipe needs MediaPipe: pip install {PINNED!r} (or \"edgecnn[test]\")")
    n = min(samples, len(data.x_test))
    pictures = rgb_pictures(data.x_test[:n])
    labels = None if data.y_test is None else np.asarray(data.y_test[:n])
    keras = report.keras_probabilities[:n]
    rows = [row for row in report.rows if row.error is None and Path(row.path).suffix == ".tflite"]
    if not rows:
        raise PlatformError("mediapipe: no .tflite artifact among the verified files")
    sections = {}
    for plat in platforms:
        artifacts = {}
        for row in rows:
            echo(f"{plat.name}: {Path(row.path).name} in MediaPipe Tasks ImageClassifier {version}, {n:,} images")
            host = None if getattr(row, "probabilities", None) is None else np.asarray(row.probabilities[:n])
            artifacts[Path(row.path).name] = check_file(Path(row.path), pictures, keras, labels, row.precision,
                                                        tolerances, host, len(data.x_test))
        ran = [a for a in artifacts.values() if a["passed"] is not None]
        sections[plat.name] = {
            **plat.to_json(), "runner": f"MediaPipe Tasks ImageClassifier (PyPI mediapipe {version}), from the "
                                        "file alone, RGB pictures", "samples": n,
            "passed": bool(ran) and all(a["passed"] for a in ran), "artifacts": artifacts,
            **({} if ran else {"note": "MediaPipe accepts none of these files: export the app variants "
                                       "(edgecnn export --format tflite --quantize int8_app)"}),
        }
    return sections


def report_lines(sections: dict[str, Any]) -> list[str]:
    """The report's Markdown for the mediapipe sections of verify.json: one row per file, refusals with their reason."""
    from edgecnn.formatting import pct

    lines = [("MediaPipe Tasks' ImageClassifier (the task Android, iOS and the web run) created from each file "
              "alone, on the test images as RGB pictures; category names must be the file's own labels."), "",
             "| file | agreement with Keras | max abs diff | names from the file | verdict |", "|---|---|---|---|---|"]
    for entry in sections.values():
        for name, row in entry.get("artifacts", {}).items():
            if row.get("status") == "REFUSED":
                lines.append(f"| {name} | – | – | – | refused: {row.get('refused', '')} |")
                continue
            names = "yes" if row.get("category_names", {}).get("from_file") else "no"
            lines.append(f"| {name} | {pct(row.get('agreement'))} | {row.get('max_abs_diff', 0):.1e} | {names} "
                         f"| {row.get('status', '–')} |")
    return lines
