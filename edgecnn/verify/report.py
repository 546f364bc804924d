"""One verification as records: a row per artifact (:class:`ArtifactCheck`), the whole run
(:class:`VerifyReport`), and their verify.json shape (NaN written as null, paths relative to the folder)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn import __version__, fileio
from edgecnn.parity import ParityResult, Tolerance


@dataclass(frozen=True)
class ArtifactCheck:
    """One row of the verification: an artifact and its parity, or why it could not be checked."""

    path: Path
    format: str
    precision: str | None
    parity: ParityResult | None = None
    error: str | None = None  # the file could not be loaded or run
    sha256: str | None = None
    seconds: float = 0.0  # load + inference over the test set
    predictions: np.ndarray | None = field(default=None, repr=False, compare=False)  # top-1 digits
    disagreement_indices: np.ndarray | None = field(default=None, repr=False, compare=False)  # vs Keras
    quant_debug: dict[str, Any] | None = None  # per-layer table (--debug-quant)
    label: str | None = None  # a mixed int8 file: "int8, 3 of 65 layers float32" (artifact.mixed_label)
    # The file's own probabilities (N x K): what a platform check of a lossy file must reproduce.
    probabilities: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def passed(self) -> bool:
        return self.error is None and self.parity is not None and self.parity.passed

    @property
    def verdict(self) -> str:
        """PASS, FAIL or INCONCLUSIVE (a lossy file the test set cannot judge either way)."""
        return self.parity.verdict if self.error is None and self.parity is not None else "FAIL"

    @property
    def reason(self) -> str:
        """Why the row failed, in one line ('' when it passed)."""
        if self.error:
            return self.error
        return "; ".join(self.parity.reasons) if self.parity else "not checked"

    def to_json(self, root: Path | None = None, max_indices: int = 100, labels: np.ndarray | None = None,
                keras_predictions: np.ndarray | None = None, model_sha256: str | None = None) -> dict[str, Any]:
        """verify.json's entry for this artifact; with ``labels``/``keras_predictions`` the first
        ``max_indices`` disagreements carry the true, Keras' and the artifact's class (for the picture)."""
        keys = ("accuracy", "accuracy_delta", "agreement", "disagreements", "max_abs_diff", "mean_abs_diff",
                "agreement_interval", "accuracy_drop_interval")
        metrics = self.parity.to_json() if self.parity else {}
        out: dict[str, Any] = {
            "path": _display_path(self.path, root),
            "format": self.format,
            "precision": self.precision,
            **({"label": self.label} if self.label else {}),
            "sha256": self.sha256,
            **{k: _json_number(metrics.get(k)) for k in keys},
            "samples": metrics.get("samples"),
            "passed": self.passed,
            "status": self.verdict,
            "judged_by": metrics.get("judged_by"),
            "reason": self.reason,
            "reasons": metrics.get("reasons", [self.error] if self.error else []),
            "tolerance": metrics.get("tolerance"),
            "seconds": round(self.seconds, 3),
        }
        out["model_sha256"] = model_sha256
        out["verified"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self.disagreement_indices is not None:
            shown = self.disagreement_indices[:max_indices]
            out["disagreement_indices"] = shown.tolist()
            if self.predictions is not None and labels is not None and keras_predictions is not None:
                out["disagreement_labels"] = np.asarray(labels)[shown].tolist()
                out["disagreement_keras"] = np.asarray(keras_predictions)[shown].tolist()
                out["disagreement_predictions"] = self.predictions[shown].tolist()
        if self.quant_debug is not None:
            out["quant_debug"] = self.quant_debug
        return out


@dataclass(frozen=True)
class VerifyReport:
    """The whole verification: the Keras reference and one ArtifactCheck per artifact."""

    rows: tuple[ArtifactCheck, ...]
    keras_accuracy: float | None  # None: Keras was not run (every named file was missing) or the data has no labels
    model_path: Path
    model_sha256: str
    samples: int
    data_source: str
    tolerances: dict[str, Tolerance]
    seconds: float
    keras_probabilities: np.ndarray = field(repr=False, compare=False)  # N x K
    labels: np.ndarray | None = field(repr=False, compare=False)  # None: unlabelled data
    class_names: tuple[str, ...] | None = None

    @property
    def keras_predictions(self) -> np.ndarray:
        """Keras' top-1 digit per test image."""
        return self.keras_probabilities.argmax(axis=1)

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    @property
    def verdict(self) -> str:
        """FAIL if a file fails, else INCONCLUSIVE if the test set cannot judge one, else PASS."""
        from edgecnn.parity import overall

        return overall(row.verdict for row in self.rows)

    @property
    def ran_keras(self) -> bool:
        """False for a report of files that could not even be found (Keras was not run)."""
        return self.samples > 0

    def entries(self, root: Path | None = None) -> list[dict[str, Any]]:
        """verify.json's ``artifacts`` entries of this run."""
        keras = self.keras_predictions if self.ran_keras else None
        sha = self.model_sha256 if self.ran_keras else None
        return [row.to_json(root, labels=self.labels, keras_predictions=keras, model_sha256=sha) for row in self.rows]

    def to_json(self, root: Path | None = None, platforms: dict[str, Any] | None = None) -> dict[str, Any]:
        """This run alone as a verify.json document (:func:`merge_results` folds it into an existing one)."""
        return {
            "edgecnn_version": __version__,
            "model": {"path": _display_path(self.model_path, root), "sha256": self.model_sha256},
            "data": {"source": self.data_source, "samples": self.samples, "labelled": self.labels is not None},
            "keras_accuracy": self.keras_accuracy,
            "tolerances": {p: t.to_json() for p, t in self.tolerances.items()},
            "passed": self.passed,
            "status": self.verdict,
            "seconds": round(self.seconds, 3),
            "artifacts": self.entries(root),
            # Checks on other platforms (e.g. an emulated Raspberry Pi: `verify --platform pi`).
            "platforms": platforms or {},
        }

def _display_path(path: Path, root: Path | None) -> str:
    return fileio.relative_posix(path, root) or str(path)


def _json_number(value: Any) -> Any:
    # JSON has no NaN: a non-finite metric is written as null.
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
