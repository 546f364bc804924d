"""Which data set a command runs on: ``--data``, else the one the files were exported with.

``export`` records the data set it calibrated on in manifest.json (``"data"``: path, layout,
split, image counts, sha256 of its listing); ``verify``, ``bench``, ``run`` and the report take
it when ``--data`` is not given and say so. Another ``--data`` is allowed and named. Without
either, only an MNIST-shaped model falls back to the bundled MNIST: any other shape is an
error saying what to pass (a 40x40 model must not be benchmarked on 28x28 digits).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgecnn.errors import DataError

MANIFEST_KEY = "data"


@dataclass(frozen=True)
class DataRecord:
    """The data set artifacts were calibrated on, as manifest.json's ``"data"`` records it."""

    path: str | None  # absolute; None: the default MNIST (no --data)
    layout: str  # "mnist" | "folder" | "npz"
    split: str  # how train and test images were told apart
    train_images: int
    test_images: int
    sha256: str  # of the data's listing: file names and contents (edgecnn.data checksums)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: Any) -> DataRecord | None:
        """None for a manifest without (or with an unreadable) data record."""
        if not isinstance(obj, dict):
            return None
        try:
            return cls(obj.get("path"), str(obj["layout"]), str(obj.get("split", "")), int(obj["train_images"]),
                       int(obj["test_images"]), str(obj["sha256"]))
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def name(self) -> str:
        return self.path or "the bundled MNIST"


def data_sha256(dataset) -> str:
    """One sha256 for a loaded ``edgecnn.data.Dataset`` (its per-file checksums, canonical JSON)."""
    return hashlib.sha256(json.dumps(dataset.checksums, sort_keys=True).encode()).hexdigest()


def record_of(dataset, given: Path | None) -> DataRecord:
    """The record of a loaded data set; ``given``: the ``--data`` path it came from (None: default)."""
    return DataRecord(str(Path(given).resolve()) if given else None, dataset.kind, dataset.split,
                      len(dataset.x_train), len(dataset.x_test), data_sha256(dataset))


def recorded(out_dir: Path) -> DataRecord | None:
    """manifest.json's data record in ``out_dir`` (None: none, or no manifest)."""
    from edgecnn.manifest import manifest_path, read_manifest

    if not manifest_path(out_dir).is_file():
        return None
    try:
        return DataRecord.from_json(read_manifest(out_dir).get(MANIFEST_KEY))
    except Exception:  # noqa: BLE001 - an unreadable manifest records nothing; its own command says why
        return None


@dataclass(frozen=True)
class DataChoice:
    """What a command loads (``path``, None: the bundled MNIST) and the line saying why."""

    path: Path | None
    note: str
    record: DataRecord | None = None


def choose_data(out_dir: Path, given: Path | None, spec=None) -> DataChoice:
    """``--data`` (named, and compared with the record), else the manifest's, else MNIST if the model fits it.

    Args:
        out_dir: the output folder whose manifest.json may record a data set.
        given: ``--data`` (None: not given).
        spec: the artifacts' ``ModelSpec`` (None: unknown; MNIST is then the default).

    Returns:
        The choice; a recorded data set that is gone, or a non-MNIST model with nothing to go
        on, raises DataError saying what to pass.
    """
    record = recorded(out_dir)
    if given is not None:
        note = f"data: {given} (--data)"
        if record is not None and record.path != str(Path(given).resolve()):
            note += f"; the files were exported with {record.name}"
        return DataChoice(Path(given), note, record)
    if record is not None:
        if record.path is not None and not Path(record.path).exists():
            raise DataError(f"{record.path}: the data set the files were exported with (manifest.json: "
                            f"{record.layout}, {record.train_images + record.test_images:,} images) is gone; "
                            "pass --data")
        return DataChoice(Path(record.path) if record.path else None,
                          f"data: {record.name} (recorded in manifest.json at export)", record)
    if spec is not None and not mnist_shaped(spec):
        h, w, c = spec.input_shape
        raise DataError(f"{spec.name} takes {h}x{w}x{c} images and {spec.num_classes} classes, not MNIST's, and "
                        "manifest.json records no data set: pass its own images with --data")
    return DataChoice(None, "data: the bundled MNIST (default)")


def mnist_shaped(spec) -> bool:
    """Whether the bundled MNIST fits a model (the reference CNN's input and class count)."""
    from edgecnn.spec import REFERENCE

    return tuple(spec.input_shape) == tuple(REFERENCE.input_shape) and spec.num_classes == REFERENCE.num_classes


def changed_since_export(dataset, choice: DataChoice) -> str | None:
    """A warning when the recorded data set was used but its contents changed since the export."""
    record = choice.record
    if record is None or choice.path is None or str(choice.path.resolve()) != record.path:
        return None
    if data_sha256(dataset) != record.sha256:
        return (f"{record.path} changed since the export (sha256 {data_sha256(dataset)[:12]}…, "
                f"recorded {record.sha256[:12]}…)")
    return None
