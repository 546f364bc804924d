"""``manifest.json``: the list of exported artifacts and what a device needs to know about them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from edgecnn import __version__, fileio
from edgecnn.artifact import RUNNABLE_FORMATS, Artifact
from edgecnn.env import library_versions
from edgecnn.errors import OutputError

from edgecnn.names import MANIFEST


def manifest_path(out_dir: Path) -> Path:
    return Path(out_dir) / MANIFEST


def read_manifest(out_dir: Path) -> dict[str, Any]:
    """The manifest as JSON, or an empty skeleton when there is none yet."""
    path = manifest_path(out_dir)
    if not path.is_file():
        return {"artifacts": []}
    obj = fileio.read_json(path)
    if not isinstance(obj, dict) or not isinstance(obj.get("artifacts"), list):
        raise OutputError(f"{path}: not an edgecnn manifest (no 'artifacts' list)")
    return obj


def load_artifacts(out_dir: Path, runnable_only: bool = False) -> list[Artifact]:
    """Every artifact the manifest in ``out_dir`` lists (paths resolved against ``out_dir``).

    ``runnable_only`` keeps the files a runtime can load (TFLite, ONNX), e.g. to verify them.
    """
    artifacts = [Artifact.from_json(entry, Path(out_dir)) for entry in read_manifest(out_dir)["artifacts"]]
    return [a for a in artifacts if a.format in RUNNABLE_FORMATS] if runnable_only else artifacts


def update_manifest(out_dir: Path, artifacts: list[Artifact], source: dict[str, Any], spec=None,
                    data: dict[str, Any] | None = None) -> Path:
    """Add or replace the entries of ``artifacts`` (by format/precision), keep the others, write atomically.

    ``spec`` (edgecnn.spec.ModelSpec, default the reference CNN's) is the model the artifacts
    come from: the manifest's ``"model"``, ``labels`` and ``preprocessing``. Entries of
    another model (another name or shape) are dropped: one manifest describes one model.
    ``data`` (``edgecnn.datasource.DataRecord.to_json``) is the data set the artifacts were
    calibrated on; without it the old record of the same model is kept.
    """
    from edgecnn.spec import REFERENCE

    spec = spec or REFERENCE
    out_dir = Path(out_dir)
    old = read_manifest(out_dir)
    recorded = old.get("model")
    old_model = recorded if isinstance(recorded, dict) else REFERENCE.to_json()
    same = old_model.get("name") == spec.name and old_model.get("input_shape") == list(spec.input_shape)
    entries = {f"{e['format']}/{e['precision']}": e for e in (old["artifacts"] if same else [])}
    for artifact in artifacts:
        entries[artifact.key] = artifact.to_json(out_dir)
    manifest = {
        "edgecnn_version": __version__,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "source_model": source,
        "model": spec.to_json(),
        "labels": list(spec.labels),
        "preprocessing": spec.preprocessing.to_json(spec.input_shape),
        "versions": library_versions(),
        "artifacts": list(entries.values()),
    }
    data = data if data is not None else (old.get("data") if same else None)
    if data is not None:
        manifest["data"] = data
    return fileio.write_json(manifest_path(out_dir), manifest)


def remove_from_manifest(out_dir: Path, keys: list[str]) -> None:
    """Drop the entries ``keys`` ("format/precision") before their files are rewritten.

    A kill between rewriting a file and updating the manifest then leaves the file
    unlisted, never listed with a stale sha256.
    """
    path = manifest_path(out_dir)
    if not path.is_file():
        return
    manifest = read_manifest(out_dir)
    kept = [e for e in manifest["artifacts"] if f"{e.get('format')}/{e.get('precision')}" not in keys]
    if len(kept) != len(manifest["artifacts"]):
        fileio.write_json(path, {**manifest, "artifacts": kept})
