"""Model reuse in `edgecnn run`: same configuration and data -> reuse; anything else -> train."""

from __future__ import annotations

import shutil

from edgecnn.model import TrainConfig
from edgecnn.pipeline import reusable_model


def test_reuse_only_matching_model(trained_dir, mnist, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(trained_dir, out)
    same = TrainConfig(epochs=2, seed=0)
    assert reusable_model(out, same, mnist.checksums)["epochs"] == 2
    assert reusable_model(out, TrainConfig(epochs=3, seed=0), mnist.checksums) is None
    assert reusable_model(out, TrainConfig(epochs=2, seed=1), mnist.checksums) is None
    assert reusable_model(out, same, {"npz": "other data"}) is None
    # Verbosity does not change the weights, so it does not block reuse.
    assert reusable_model(out, TrainConfig(epochs=2, seed=0, verbose=1), mnist.checksums) is not None
    with open(out / "mnist_cnn.keras", "ab") as fh:
        fh.write(b"tampered")
    assert reusable_model(out, same, mnist.checksums) is None
