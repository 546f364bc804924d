"""Cold start (import + load + first prediction) and peak memory, in a fresh process per model.

This module imports no heavy library at import time: the cold-start child imports it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

_CHILD = (
    "import time; _t0 = time.perf_counter()\n"
    "import sys; from edgecnn.bench.coldstart import cold_start_child; cold_start_child(_t0, sys.argv[1:])\n"
)


def cold_start(path: Path, threads: int = 1, xnnpack: bool = True, timeout: float = 300.0,
               unsafe: bool = False) -> dict[str, Any]:
    """Import the runtime, load ``path`` and predict one image in a fresh Python process.

    ``cold_start_ms`` counts from the child's first line (interpreter start-up excluded, numpy
    and the runtime's import included) to the end of the first prediction; ``peak_rss_mb`` is
    the child's peak resident memory.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [sys.executable, "-c", _CHILD, str(path), str(threads), "1" if xnnpack else "0", "1" if unsafe else "0"]
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    wall_ms = (time.perf_counter() - started) * 1e3
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": tail[:200]}
    result = json.loads(lines[-1])
    result["process_ms"] = wall_ms
    return result


def cold_start_child(t0: float, argv: list[str]) -> None:
    path, threads, xnnpack, unsafe = Path(argv[0]), int(argv[1]), argv[2] == "1", argv[3:4] == ["1"]
    if path.suffix == ".keras":
        import keras  # noqa: F401  (what an app pays: TensorFlow + Keras)

        t1 = time.perf_counter()
        from edgecnn.data import preprocess
        from edgecnn.model import load_model

        model = load_model(path, unsafe=unsafe)
        image = _first_image(model.input_shape[1:])
        t2 = time.perf_counter()
        np.asarray(model(preprocess(image), training=False))
    else:
        from edgecnn.runtime import RuntimeOptions, load

        if path.suffix == ".tflite":
            from edgecnn.runtime.tflite import _interpreter_class

            _interpreter_class()
        else:
            import onnxruntime  # noqa: F401
        t1 = time.perf_counter()
        predictor = load(path, RuntimeOptions(num_threads=threads, xnnpack=xnnpack))
        image = _first_image(predictor.input_spec.shape[1:])
        t2 = time.perf_counter()
        predictor.predict(image)
    t3 = time.perf_counter()
    print(json.dumps({
        "cold_start_ms": (t3 - t0) * 1e3, "import_ms": (t1 - t0) * 1e3, "load_ms": (t2 - t1) * 1e3,
        "first_inference_ms": (t3 - t2) * 1e3, "peak_rss_mb": peak_rss_mb(),
    }))


def _first_image(shape) -> np.ndarray:
    """One uint8 image of the model's own input shape (H, W, C): a plain vertical bar, any image will do."""
    h, w, c = (int(d) for d in shape)
    image = np.zeros((1, h, w, c), np.uint8)
    image[0, h // 5: h - h // 5, w // 2 - 1: w // 2 + 1] = 255
    return image


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB.

    Linux: VmHWM from /proc/self/status. ``ru_maxrss`` is not used there because Linux carries
    it across fork + exec, so a child would report its (bigger) parent's peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10  # bytes on macOS, KiB elsewhere
