"""Choosing and loading what to measure: one Subject per model file and runtime configuration."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgecnn.artifact import mixed_label
from edgecnn.bench.config import BenchConfig
from edgecnn.errors import ModelError

log = logging.getLogger(__name__)

MODEL_SUFFIXES = (".tflite", ".onnx", ".keras")


@dataclass
class Subject:
    """One model in one runtime configuration (xnnpack on/off), loaded once."""

    path: Path
    format: str  # tflite | onnx | keras
    precision: str
    runtime: str  # e.g. "litert+xnnpack", "onnxruntime", "keras"
    xnnpack: bool | None
    bytes: int
    accuracy: float | None = None
    label: str | None = None  # a mixed int8 file: "int8, 3 of 65 layers float32" (artifact.mixed_label)
    graph: dict[str, Any] = field(default_factory=dict)
    macs: dict[str, Any] = field(default_factory=dict)  # macs.count_*: per-image MACs from the graph
    cold: dict[str, Any] = field(default_factory=dict)
    handle: Any = None  # the Predictor, or the Keras model

    @property
    def name(self) -> str:
        return f"{self.path.name} [{self.runtime}]"

    @property
    def is_baseline(self) -> bool:
        return self.format == "keras"


def check_model_path(path: Path) -> Path:
    """A file edgecnn can benchmark, else a one-line ModelError."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: file not found")
    if path.suffix not in MODEL_SUFFIXES:
        raise ModelError(f"{path}: not a model file edgecnn can benchmark (expected .tflite, .onnx or .keras)")
    return path


def default_paths(out_dir: Path, keras: bool = True) -> list[Path]:
    """Every artifact in ``out_dir``'s manifest, then the Keras model as baseline (when present)."""
    from edgecnn.manifest import load_artifacts
    from edgecnn.model import default_model_path

    paths = [a.path for a in load_artifacts(out_dir, runnable_only=True)]
    keras_path = default_model_path(out_dir)
    if keras and keras_path.is_file():
        paths.append(keras_path)
    if not paths:
        raise ModelError(f"{out_dir}: no models to benchmark (run `edgecnn train` and `edgecnn export` first)")
    return paths


def manifest_paths(out_dir: Path) -> dict[str, Path]:
    """``"format/precision"`` -> file for the artifacts in ``out_dir``'s manifest that exist."""
    from edgecnn.manifest import load_artifacts

    found = {a.key: a.path for a in load_artifacts(out_dir) if a.path.is_file()}
    if not found:
        raise ModelError(
            f"{out_dir}: no exported models (make them with `edgecnn train --output-dir {out_dir}` "
            f"then `edgecnn export --output-dir {out_dir}`)"
        )
    return found


def read_accuracies(out_dir: Path) -> dict[str, float]:
    """File name -> test accuracy from ``verify.json`` (empty when there is none)."""
    from edgecnn.names import VERIFY_JSON
    from edgecnn.workspace import Workspace

    workspace = Workspace(Path(out_dir))
    obj = workspace.record(VERIFY_JSON)  # a broken verify.json must not stop a benchmark
    if obj is None:
        return {}
    found: dict[str, float] = {}
    keras_name = workspace.default_model().name

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("path"), str) and isinstance(node.get("accuracy"), (int, float)):
                found[Path(node["path"]).name] = float(node["accuracy"])
            if isinstance(node.get("keras_accuracy"), (int, float)):
                found.setdefault(keras_name, float(node["keras_accuracy"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(obj)
    return found


def runtime_options(config: BenchConfig, threads: int, xnnpack: bool):
    from edgecnn.runtime import RuntimeOptions

    return RuntimeOptions(
        num_threads=threads, xnnpack=xnnpack,
        ort_optimization=config.ort_optimization, ort_spinning=config.ort_spinning,
    )


def runtime_label(fmt: str, xnnpack: bool | None) -> str:
    if fmt == "tflite":
        return "litert+xnnpack" if xnnpack else "litert"
    return "onnxruntime" if fmt == "onnx" else "keras"


def make_subjects(paths: Sequence[Path], config: BenchConfig, accuracies: dict[str, float]) -> list[Subject]:
    """One Subject per model and XNNPACK mode; the Keras baseline (if any) goes last."""
    from edgecnn.runtime import file_precision
    from edgecnn.errors import EdgeCnnError

    def precision(path: Path, fmt: str) -> str:
        if fmt == "keras":
            return "float32"
        try:
            return file_precision(path)  # metadata, then manifest: never the name
        except EdgeCnnError:
            return "unknown"  # the load that follows reports the problem

    subjects = []
    for path in paths:
        path = check_model_path(path)
        fmt = {".tflite": "tflite", ".onnx": "onnx", ".keras": "keras"}[path.suffix]
        if fmt == "keras" and not config.keras:
            continue
        for xnn in config.xnnpack if fmt == "tflite" else (None,):
            subjects.append(Subject(
                path=path, format=fmt, precision=precision(path, fmt), runtime=runtime_label(fmt, xnn),
                xnnpack=xnn, bytes=path.stat().st_size, accuracy=accuracies.get(path.name),
            ))
    subjects.sort(key=lambda s: s.is_baseline)
    return subjects


def load_subject(subject: Subject, config: BenchConfig, threads: int) -> None:
    """Load the runtime (or Keras) once; record what actually runs and how many MACs an image costs."""
    from importlib.util import find_spec

    from edgecnn.bench import graph, macs

    if subject.is_baseline:
        subject.handle = _load_keras(subject.path, threads, config.unsafe)
        if not subject.macs:
            subject.macs = macs.count_keras(subject.handle)
        return
    from edgecnn.runtime import load

    options = runtime_options(config, threads, bool(subject.xnnpack))
    subject.handle = load(subject.path, options)
    subject.label = mixed_label(subject.handle.metadata)
    subject.precision = subject.handle.precision  # from the file's metadata, never its name
    if subject.format == "tflite":
        subject.graph = graph.tflite_delegation(subject.handle.interpreter) if subject.xnnpack else {}
        if not subject.macs:
            subject.macs = macs.count_tflite(subject.handle.model_bytes)
    elif find_spec("onnx") is None:  # the base install: timings stand without the graph listing and MACs
        subject.graph = {"optimization": options.ort_optimization, "error": "onnx not installed (base install)"}
    else:
        subject.graph = graph.onnx_graph_ops(subject.path, options)
        if not subject.macs:
            try:
                subject.macs = macs.count_onnx(subject.path)
            except ValueError as exc:  # a QOperator node ONNX infers no shape for: timings stand without MACs
                log.info("%s: MACs not counted (%s)", subject.path.name, exc)
                subject.macs = {"error": str(exc)}


def _load_keras(path: Path, threads: int, unsafe: bool = False):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    try:  # only possible before TensorFlow's runtime starts; afterwards it keeps its pools
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        log.warning("TensorFlow already initialized: Keras keeps its earlier thread settings")
    from edgecnn.model import load_model

    return load_model(path, unsafe=unsafe)
