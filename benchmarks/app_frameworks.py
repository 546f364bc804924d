"""MediaPipe Tasks on edgecnn's files: a MobileNetV2 (alpha 0.35, 96x96x3) and the reference CNN.

For each model: export the float32 and int8 TFLite files and their app variants, verify them
against Keras on the test images and on MediaPipe Tasks' ImageClassifier (``verify --platform
mediapipe``), and print per file: Keras agreement of edgecnn's runtime and of MediaPipe, max |Δ|,
whether MediaPipe took the file (its refusal otherwise), the size of the standard metadata, and
whether the int8 app variant computes the int8 file bit for bit. Correctness figures, not
timings; the load average is printed next to them anyway.

The MobileNetV2 is keras.applications' (weights=None: nothing downloads), trained seeded for a
few epochs on tests/own_models' coloured shapes at 96x96; the reference CNN for one epoch on MNIST.

    python benchmarks/app_frameworks.py [--work DIR] [--samples 500]   # DIR of an earlier run: models reused
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def mobilenet(work: Path) -> tuple[Path, Path]:
    """A trained MobileNetV2 0.35 96x96x3 on 4 shape classes and its .npz data."""
    import keras
    import own_models

    x, y = own_models.make_shapes(1400, 96, 4, seed=0)
    data = work / "shapes96.npz"
    np.savez(data, x=x, y=y, labels=np.array(own_models.SHAPES[:4]))
    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, include_top=False,
                                          pooling="avg")
    for layer in base.layers:  # keras.applications' 0.999 moving averages need far more than these 200 steps
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    model = keras.Sequential([keras.Input((96, 96, 3)), keras.layers.Rescaling(1 / 127.5, offset=-1.0), base,
                              keras.layers.Dense(4, activation="softmax")], name="mobilenet_v2_035")
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:1000].astype(np.float32), y[:1000], epochs=8, batch_size=32, verbose=0)
    path = work / "mobilenet_v2_035.keras"
    model.save(path)
    return path, data


def reference(work: Path) -> tuple[Path, None]:
    from edgecnn.data import load_mnist
    from edgecnn.model import TrainConfig, train

    train(TrainConfig(epochs=1, seed=0, verbose=0), load_mnist(), work)
    return work / "mnist_cnn.keras", None


def measure(model: Path, data: Path | None, out: Path, samples: int, preprocess: str) -> None:
    from edgecnn.export import APP, ExportOptions, export_models
    from edgecnn.runtime import load
    from edgecnn.runtime.flatbuffer import read_metadata
    from edgecnn.runtime.model_metadata import flatbuffer_part
    from edgecnn.spec import Preprocessing
    from edgecnn.verify import VerifyRequest, verify_folder
    from edgecnn.workspace import Workspace

    options = ExportOptions(data_path=data, preprocessing=Preprocessing.parse(preprocess))
    export_models(model, out, [("tflite", "float32"), ("tflite", "int8"), *APP], options)
    run = verify_folder(VerifyRequest(Workspace(out), model=model, data=data, platforms=("mediapipe",),
                                      samples=samples), echo=lambda _: None)
    section = run.platforms["mediapipe"]
    print(f"\n{model.stem}: Keras accuracy {run.report.keras_accuracy:.2%} on {run.report.samples} test images; "
          f"MediaPipe on {section['samples']} ({os.getloadavg()[0]:.2f} load)")
    print(f"{'file':34s} {'runtime agree':>13s} {'MediaPipe':>10s} {'MP max|Δ|':>10s}  {'names':5s} "
          f"{'metadata+zip B':>14s}  verdict")
    for row in run.report.rows:
        mp = section["artifacts"][row.path.name]
        data_bytes = row.path.read_bytes()
        record = read_metadata(data_bytes, "TFLITE_METADATA") or b""
        extra = len(record) + len(data_bytes) - len(flatbuffer_part(data_bytes))
        if mp["status"] == "REFUSED":
            print(f"{row.path.name:34s} {row.parity.agreement:13.2%} {'-':>10s} {'-':>10s}  {'-':5s} {extra:14d}  "
                  f"refused: {mp['refused']}")
            continue
        print(f"{row.path.name:34s} {row.parity.agreement:13.2%} {mp['agreement']:10.2%} {mp['max_abs_diff']:10.1e}  "
              f"{'yes' if mp['category_names']['from_file'] else 'no':5s} {extra:14d}  {mp['status']}")
    x = run.report.keras_probabilities  # only its length matters here
    name = model.stem
    from edgecnn.data import load_data

    images = load_data(data, load(out / f"{name}_int8.tflite").spec.input_shape).x_test[: len(x)]
    app, int8 = load(out / f"{name}_int8_app.tflite"), load(out / f"{name}_int8.tflite")
    same = np.array_equal(app.predict(images), int8.predict(images))
    print(f"{name}_int8_app.tflite == {name}_int8.tflite bit for bit on {len(images)} test images: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--samples", type=int, default=500)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="edgecnn-app-"))
    print(f"load average at start: {os.getloadavg()}")
    for make, preprocess in ((mobilenet, "none"), (reference, "unit")):
        folder = work / make.__name__
        folder.mkdir(parents=True, exist_ok=True)
        made = {"mobilenet": (folder / "mobilenet_v2_035.keras", folder / "shapes96.npz"),
                "reference": (folder / "mnist_cnn.keras", None)}[make.__name__]
        # --work of an earlier run: its trained models are reused (the measurement is of the files, not the training)
        model, data = made if made[0].is_file() else make(folder)
        measure(model, data, folder, args.samples, preprocess)
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
