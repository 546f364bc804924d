"""The accuracy loop's steps (export --max-drop, issue #20 point 2) on the MobileNetV2 test model.

Two int8 files that miss verify's int8 tolerance, each repaired by the loop, per format:

  * ``few``: the trained MobileNetV2 calibrated on 8 images (``--calibration-samples 8``);
  * ``sensitive``: the same network with one layer made sensitive on purpose (channel 0 of
    block_16_project_BN x300, Conv_1's weights reading it /300: Keras' outputs unchanged; see
    tests/test_int8_accuracy.py), calibrated on 500 images.

Per step: what changed, agreement and accuracy on the judge images (a held-out quarter of the
training split), size and batch-1 p50 (one thread, in the export process, 30 calls: indicative
on a shared machine), then the kept file's agreement on the 1,000 test images (verify's split)
and the export's wall time. The load average is printed beside each case.

    python benchmarks/int8_recovery.py [--formats tflite,onnx] [--cases few,sensitive]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def case(model_path: Path, npz: Path, fmt: str, samples: int, out: Path) -> None:
    import keras

    from edgecnn.data import load_data
    from edgecnn.export import ExportOptions, export_models
    from edgecnn.export.accuracy import step_lines
    from edgecnn.runtime import load
    from edgecnn.spec import Preprocessing

    load_before = Path("/proc/loadavg").read_text().split()[:3]
    started = time.perf_counter()
    options = ExportOptions(data_path=npz, preprocessing=Preprocessing.parse("symmetric", "rgb"),
                            calibration_samples=samples, max_drop=0.3)
    artifact = export_models(model_path, out, [(fmt, "int8")], options)[0]
    seconds = time.perf_counter() - started
    for line in step_lines(artifact.extra["quantization"]):
        print(f"  {line}")
    data = load_data(npz, (96, 96, 3), 0)
    keras_top = keras.models.load_model(model_path).predict(data.x_test / 127.5 - 1, verbose=0,
                                                             batch_size=100).argmax(1)
    got = load(artifact.path).predict(data.x_test).argmax(1)
    print(f"  kept file on the {len(got):,} test images: agreement {np.mean(got == keras_top):.2%}, accuracy "
          f"{np.mean(got == data.y_test):.2%} (Keras {np.mean(keras_top == data.y_test):.2%}); export {seconds:.0f} s; "
          f"load average {' '.join(load_before)} -> {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")


def main() -> None:
    import real_models

    from edgecnn.env import cache_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", default="tflite,onnx")
    parser.add_argument("--cases", default="few,sensitive")
    args = parser.parse_args()
    model_path, npz = real_models.trained(cache_dir() / "test-models")
    with tempfile.TemporaryDirectory() as tmp:
        models = {"few": (model_path, 8)}
        if "sensitive" in args.cases:
            models["sensitive"] = (real_models.sensitive_copy(model_path, Path(tmp) / "mobilenet_v2_035.keras"), 500)
        for name in args.cases.split(","):
            for fmt in args.formats.split(","):
                path, samples = models[name]
                print(f"{name} ({samples} calibration images), {fmt}:")
                case(path, npz, fmt, samples, Path(tmp) / f"{name}-{fmt}")


if __name__ == "__main__":
    main()
