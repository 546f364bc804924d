"""Peak memory and time of int8 ONNX calibration by how a batch is run (issue #21, point 3).

``edgecnn.export.onnx_int8.calibrate`` on 500 inputs of a 224x224x3 MobileNetV2 (alpha 1.0,
weights=None: the model of benchmarks/memory_scaling.py), MinMax in batches of 16, each batch run
whole (16) or in parts of 8 or 4 (``CALIBRATION_PART``), rounds interleaved. RSS is sampled every
10 ms in this process; the figure is the rise above RSS before the call. The ranges are the same
whatever the part (tests/test_onnx_int8_graph.py checks the file byte for byte).

    python benchmarks/calibration_memory.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

import _common  # noqa: F401 (the repo on sys.path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    import memory_scaling
    import onnx
    import psutil

    from edgecnn.export import ExportOptions, export_models, onnx_int8

    proc, peak = psutil.Process(), [0]

    def sample() -> None:
        while True:
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.01)

    with tempfile.TemporaryDirectory() as tmp:
        export_models(memory_scaling.model(), Path(tmp), [("onnx", "float32")], ExportOptions())
        proto = onnx.load(next(Path(tmp).glob("*float32.onnx")))
    images = np.random.default_rng(0).uniform(-1, 1, (500, 224, 224, 3)).astype(np.float32)
    ops = onnx_int8.calibrated_op_types(proto)
    threading.Thread(target=sample, daemon=True).start()
    print(f"load average before: {' '.join(open('/proc/loadavg').read().split()[:3])}")
    print(f"{'round':>5} {'part':>4} {'seconds':>8} {'peak rise':>10}")
    for r in range(args.rounds):
        for part in (16, 8, 4):
            onnx_int8.CALIBRATION_PART = part
            base = proc.memory_info().rss
            peak[0] = base
            started = time.perf_counter()
            onnx_int8.calibrate(proto, images, ops, "MinMax")
            print(f"{r:5d} {part:4d} {time.perf_counter() - started:8.1f} {(peak[0] - base) / 2**30:6.2f} GiB",
                  flush=True)
    print(f"load average after: {' '.join(open('/proc/loadavg').read().split()[:3])}")


if __name__ == "__main__":
    main()
