"""Which ONNX graph and which ONNX Runtime settings edgecnn ships, by measurement.

Builds, from one .keras model, in one process:
  * baseline   tf2onnx's unmodified output (Keras' dynamic Flatten: Transpose/Shape/Gather/
               Cast/Slice/Concat before the Dense) in ORT's default session
               (only the thread count is pinned, to the same value for every variant);
  * edgecnn    the exported graph (edgecnn.export.onnx.clean_graph) under each ORT
               optimisation level, through edgecnn.runtime.onnx.session_options;
  * tflite     the float32 TFLite file through edgecnn's runtime (the batch-1 reference);
  * int8 QDQ   per-tensor vs per-channel weights (and U8 activations, for the record).

Every variant is timed in interleaved rounds (perf_counter_ns per call, warm-up first) and
the medians and ratios are printed. Figures on a shared machine drift: read the ratios.

    python benchmarks/onnx_choice.py [--model exports/mnist_cnn.keras] [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def quick_model(folder: Path) -> Path:
    """A 1-epoch model on 10,000 images: enough weights for timing (speed ignores accuracy)."""
    from edgecnn.data import load_mnist
    from edgecnn.model import TrainConfig, train

    return train(TrainConfig(epochs=1, train_samples=10_000, verbose=0), load_mnist(), folder).model_path


def baseline_proto(model, opset: int):
    """tf2onnx straight on the Keras model, as the first exporter did (no graph changes)."""
    import tensorflow as tf
    import tf2onnx

    spec = (tf.TensorSpec((None, 28, 28, 1), tf.float32, name="image"),)

    @tf.function(input_signature=spec, autograph=False)
    def forward(image):
        return {"probabilities": model(image, training=False)}

    proto, _ = tf2onnx.convert.from_function(forward, input_signature=spec, opset=opset)
    return proto


def ort_session(data: bytes, level: str | None, threads: int):
    """level None = ORT's default SessionOptions (threads pinned); else edgecnn's session_options."""
    import onnxruntime as ort

    from edgecnn.runtime import RuntimeOptions
    from edgecnn.runtime.onnx import session_options

    if level is None:
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
    else:
        so = session_options(RuntimeOptions(num_threads=threads, ort_optimization=level))
    sess = ort.InferenceSession(data, sess_options=so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {name: x})[0]


def time_calls(fn, x, calls: int) -> list[int]:
    out = []
    for _ in range(calls):
        t = time.perf_counter_ns()
        fn(x)
        out.append(time.perf_counter_ns() - t)
    return out


def measure(variants: dict, batches: dict[int, int], rounds: int) -> dict[tuple[str, int], float]:
    """Median ns per call for each (variant, batch), rounds interleaved across variants."""
    rng = np.random.default_rng(0)
    inputs = {b: rng.random((b, 28, 28, 1), dtype=np.float32) for b in batches}
    for fn in variants.values():  # warm-up: at least a few calls and ~half a second each
        for b, x in inputs.items():
            end = time.perf_counter() + 0.25
            while time.perf_counter() < end:
                fn(x)
    samples: dict[tuple[str, int], list[int]] = {(n, b): [] for n in variants for b in batches}
    for r in range(rounds):
        names = list(variants) if r % 2 == 0 else list(reversed(variants))  # no fixed order bias
        for name in names:
            for b, calls in batches.items():
                samples[(name, b)] += time_calls(variants[name], inputs[b], calls)
    return {key: float(np.median(v)) for key, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help=".keras model (default: train a quick one)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--opset", type=int, default=17)
    args = parser.parse_args()

    from edgecnn.export import ExportOptions
    from edgecnn.export.common import calibration_images
    from edgecnn.export.onnx import clean_graph, quantize_qdq
    from edgecnn.export.tflite import _convert
    from edgecnn.model import load_model
    from edgecnn.runtime import RuntimeOptions, load

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_path = args.model or quick_model(tmp)
        model = load_model(model_path)
        base = baseline_proto(model, args.opset)
        clean = clean_graph(baseline_proto(model, args.opset))
        no_swap = clean_graph(baseline_proto(model, args.opset), pool_first=False)
        tfl = tmp / "f32.tflite"
        tfl.write_bytes(_convert(model, "float32", ExportOptions()))
        images = calibration_images(ExportOptions())
        q_tensor = quantize_qdq(clean, images, tmp, per_channel=False).SerializeToString()
        q_channel = quantize_qdq(clean, images, tmp, per_channel=True).SerializeToString()
        q_u8 = quantize_qdq(clean, images, tmp, per_channel=False, activations="uint8").SerializeToString()

        t = args.threads
        tflite = load(tfl, RuntimeOptions(num_threads=t))
        variants = {
            "tf2onnx raw, ORT default": ort_session(base.SerializeToString(), None, t),
            "tf2onnx raw, extended": ort_session(base.SerializeToString(), "extended", t),
            "edgecnn, ORT default": ort_session(clean.SerializeToString(), None, t),
            "edgecnn no pool swap, extended": ort_session(no_swap.SerializeToString(), "extended", t),
            "edgecnn, basic": ort_session(clean.SerializeToString(), "basic", t),
            "edgecnn, extended": ort_session(clean.SerializeToString(), "extended", t),
            "edgecnn, all": ort_session(clean.SerializeToString(), "all", t),
            "TFLite float32 (XNNPACK)": tflite.run,
            "int8 QDQ per-tensor, extended": ort_session(q_tensor, "extended", t),
            "int8 QDQ per-tensor, all": ort_session(q_tensor, "all", t),
            "int8 QDQ per-channel, extended": ort_session(q_channel, "extended", t),
            "int8 QDQ U8 act., extended": ort_session(q_u8, "extended", t),
        }
        med = measure(variants, {1: 200, 256: 4}, args.rounds)

        from edgecnn.data import load_mnist, preprocess
        from edgecnn.model import keras_predict

        mnist = load_mnist()
        x_test = preprocess(mnist.x_test)
        keras_acc = (keras_predict(model, mnist.x_test).argmax(1) == mnist.y_test).mean()
        accuracy = {
            name: (np.concatenate([variants[name](x_test[i: i + 1000]) for i in range(0, len(x_test), 1000)]).argmax(1)
                   == mnist.y_test).mean()
            for name in variants if name.startswith("int8")
        }

    base_tp = 256e9 / med[("tf2onnx raw, ORT default", 256)]
    tfl_p50 = med[("TFLite float32 (XNNPACK)", 1)]
    print(f"threads={t}, rounds={args.rounds}, model={'quick 1-epoch' if args.model is None else args.model}")
    print(f"{'variant':<32} {'b1 p50 us':>10} {'/TFLite':>8} {'b256 img/s':>11} {'/baseline':>10}")
    for name in variants:
        tp = 256e9 / med[(name, 256)]
        print(f"{name:<32} {med[(name, 1)] / 1e3:>10.1f} {med[(name, 1)] / tfl_p50:>8.2f} {tp:>11,.0f} {tp / base_tp:>10.3f}")
    print(f"\nKeras test accuracy {keras_acc:.2%}; int8 QDQ ONNX: "
          + ", ".join(f"{name.split(', ')[0][9:]} {acc:.2%}" for name, acc in accuracy.items() if "extended" in name))
    print("goals: edgecnn (shipped level) b256 >= 1.05 x baseline; b1 p50 <= 1.6 x TFLite float32")


if __name__ == "__main__":
    main()
