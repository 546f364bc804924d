"""Which ONNX graph and which ONNX Runtime settings edgecnn ships, by measurement.

Builds, from one .keras model, in one process:
  * baseline   tf2onnx's unmodified output (Keras' dynamic Flatten: Transpose/Shape/Gather/
               Cast/Slice/Concat before the Dense) in ORT's default session
               (only the thread count is pinned, to the same value for every variant);
  * shipped    the float32 .onnx and .tflite files edgecnn exports, loaded through
               edgecnn.runtime with its default RuntimeOptions (the goals are about these);
  * choices    the cleaned graph with and without the pool/tanh swap under each ORT
               optimisation level, and int8 QDQ of every op per-tensor / per-channel / U8
               activations, and of the Gemms only (what export shipped before #20), with their
               test accuracy (benchmarks/speed.py compares more int8 variants);
  * int8       format (QOperator / QDQ), op list (edgecnn's rule, every layer, Gemm only, the
               rule with more layers in float32) and 8- or 7-bit weights, on the reference CNN
               and on the MobileNetV2 of tests/real_models.py: size, p50 at batch 1, batch-256
               throughput against float32 and agreement with float32 (export/onnx_int8.py
               states the rule these figures chose).

Each group is timed in interleaved rounds (perf_counter_ns per call, warm-up first; the
timed call is Predictor.run / InferenceSession.run on a prepared float32 array) and the
medians and ratios are printed. Figures on a shared machine drift: read the ratios.

    python benchmarks/onnx_choice.py [--model exports/mnist_cnn.keras] [--rounds 15] [--skip-mobilenet]
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


def measure(variants: dict, batches: dict[int, int], rounds: int, x=None) -> dict[tuple[str, int], float]:
    """Median ns per call for each (variant, batch), rounds interleaved across variants
    (inputs: the first images of ``x``, else random 28x28 digits)."""
    rng = np.random.default_rng(0)
    inputs = {b: rng.random((b, 28, 28, 1), dtype=np.float32) if x is None else np.ascontiguousarray(x[:b])
              for b in batches}
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


def report(title: str, variants: dict, med: dict, base: str, ref: str) -> None:
    base_tp, ref_p50 = 256e9 / med[(base, 256)], med[(ref, 1)]
    print(f"\n{title}")
    print(f"{'variant':<34} {'b1 p50 us':>10} {'/TFLite':>8} {'b256 img/s':>11} {'/baseline':>10}")
    for name in variants:
        tp = 256e9 / med[(name, 256)]
        print(f"{name:<34} {med[(name, 1)] / 1e3:>10.1f} {med[(name, 1)] / ref_p50:>8.2f} {tp:>11,.0f} {tp / base_tp:>10.3f}")


def int8_variants(fp32, images) -> dict[str, bytes]:
    """The int8 candidates of one float32 graph: name -> serialized model."""
    from edgecnn.export.onnx_int8 import layer_nodes, quantize_int8, quantize_op_types, rule_excluded

    layers = layer_nodes(fp32)
    every = [t for t in ("Conv", "Gemm", "MatMul", "Add", "MaxPool", "AveragePool", "GlobalAveragePool", "Relu",
                         "Clip", "Reshape", "Squeeze", "Transpose") if any(n.op_type == t for n in fp32.graph.node)]
    out = {
        "float32": fp32.SerializeToString(),
        "QDQ s8 Gemm only per-tensor (before #20)": quantize_op_types(fp32, images, ("Gemm", "MatMul"),
                                                                      per_channel=False).SerializeToString(),
        "QOperator u8 every layer, 7-bit w": quantize_op_types(fp32, images, every, per_channel=True,
                                                               activations="uint8", quant_format="QOperator",
                                                               reduce_range=True).SerializeToString(),
        "QOperator u8 rule, 8-bit w": quantize_int8(fp32, images, reduce_range=False)[0].SerializeToString(),
        "QDQ u8 rule, 7-bit w": quantize_int8(fp32, images, quant_format="QDQ")[0].SerializeToString(),
        "QDQ s8 rule, 7-bit w": quantize_int8(fp32, images, quant_format="QDQ",
                                              activations="int8")[0].SerializeToString(),
        "QOperator u8 rule, 7-bit w [export]": quantize_int8(fp32, images)[0].SerializeToString(),
    }
    # The rule's stem clause against the rule without it (only 1-channel convolutions float32).
    out["[export] but stem int8"] = quantize_int8(fp32, images, stem_channels=1)[0].SerializeToString()
    ruled = set(rule_excluded(fp32))
    first = next(n for n in layers if n not in ruled)
    out["[export] + first int8 layer float32"] = quantize_int8(fp32, images,
                                                             nodes_to_exclude=[first])[0].SerializeToString()
    return out


def int8_report(title: str, fp32, images, x_test, rounds: int, threads: int) -> None:
    """Part 3 for one model: every int8 candidate against float32, timed interleaved."""
    variants = int8_variants(fp32, images)
    runs = {name: ort_session(data, "all", threads) for name, data in variants.items()}
    med = measure(runs, {1: 30, 256: 2}, rounds, x_test)
    top = {name: np.concatenate([run(x_test[i: i + 250]) for i in range(0, len(x_test), 250)]).argmax(1)
           for name, run in runs.items()}
    print(f"\n3. int8 on the {title} ({len(x_test)} test images; load average {os.getloadavg()[0]:.2f})")
    print(f"{'variant':<40} {'size':>5} {'b1 p50 us':>10} {'/f32':>5} {'b256 img/s':>11} {'/f32':>5} {'agree':>7}")
    for name in runs:
        tp = 256e9 / med[(name, 256)]
        print(f"{name:<40} {len(variants[name]) / len(variants['float32']):>5.2f} {med[(name, 1)] / 1e3:>10.1f} "
              f"{med[(name, 1)] / med[('float32', 1)]:>5.2f} {tp:>11,.0f} "
              f"{med[('float32', 256)] / med[(name, 256)]:>5.2f} {np.mean(top[name] == top['float32']):>7.2%}")


def mobilenet_inputs(opset: int):
    """The MobileNetV2 test model's cleaned float32 graph, calibration images and test images."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    import real_models

    from edgecnn.data import preprocess
    from edgecnn.env import cache_dir
    from edgecnn.export import ExportOptions, resolve_spec
    from edgecnn.export.common import calibration_images
    from edgecnn.export.onnx import float32_model
    from edgecnn.model import load_model
    from edgecnn.spec import Preprocessing

    model_path, npz = real_models.trained(cache_dir() / "test-models")
    model = load_model(model_path)
    options = resolve_spec(model, model_path, ExportOptions(data_path=npz, opset=opset, preprocessing=Preprocessing.parse(
        "symmetric", "rgb")), needs_data=True)
    return (float32_model(model, options), calibration_images(options),
            preprocess(options.dataset.x_test, options.spec.preprocessing))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help=".keras model (default: train a quick one)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--skip-mobilenet", action="store_true", help="part 3 on the reference CNN only")
    args = parser.parse_args()

    from edgecnn.data import load_mnist, preprocess
    from edgecnn.export import ExportOptions
    from edgecnn.export import onnx as onnx_export
    from edgecnn.export import tflite as tflite_export
    from edgecnn.export.common import calibration_images
    from edgecnn.export.onnx import clean_graph
    from edgecnn.export.onnx_int8 import quantize_op_types
    from edgecnn.model import keras_predict, load_model
    from edgecnn.runtime import RuntimeOptions, load

    t = args.threads
    batches = {1: 200, 256: 4}  # calls per round: ~5 ms of batch-1 calls, ~40 ms of batch-256 calls
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_path = args.model or quick_model(tmp)
        model = load_model(model_path)
        options = ExportOptions(opset=args.opset)
        base = baseline_proto(model, args.opset).SerializeToString()

        # 1. The goals, head to head: what edgecnn ships (exported files through edgecnn.runtime
        #    with its default RuntimeOptions) against the baseline and TFLite float32.
        onnx_file = onnx_export.export_float32(model, tmp, filename="f32.onnx", options=options).path
        tflite_file = tflite_export.export_float32(model, tmp, filename="f32.tflite", options=options).path
        shipped = load(onnx_file, RuntimeOptions(num_threads=t))
        tflite = load(tflite_file, RuntimeOptions(num_threads=t))
        goals = {
            "tf2onnx raw, ORT default session": ort_session(base, None, t),
            f"edgecnn ONNX (runtime, {shipped.options.ort_optimization})": shipped.run,
            "edgecnn TFLite float32 (runtime)": tflite.run,
        }
        med_goals = measure(goals, batches, args.rounds)

        # 2. The choices: graph variants x ORT levels, int8 QDQ flavours (many sessions at once,
        #    so absolute batch-1 figures here run a little slower than in part 1).
        clean = clean_graph(baseline_proto(model, args.opset))
        no_swap = clean_graph(baseline_proto(model, args.opset), pool_first=False).SerializeToString()
        images = calibration_images(options)
        q_tensor = quantize_op_types(clean, images, None, per_channel=False).SerializeToString()
        q_channel = quantize_op_types(clean, images, None, per_channel=True).SerializeToString()
        q_u8 = quantize_op_types(clean, images, None, per_channel=False, activations="uint8").SerializeToString()
        q_gemm = quantize_op_types(clean, images, ("Gemm", "MatMul"), per_channel=False).SerializeToString()
        clean_proto, clean = clean, clean.SerializeToString()
        choices = {
            "tf2onnx raw, ORT default": ort_session(base, None, t),
            "tf2onnx raw, extended": ort_session(base, "extended", t),
            "edgecnn no pool swap, extended": ort_session(no_swap, "extended", t),
            "edgecnn no pool swap, all": ort_session(no_swap, "all", t),
            "edgecnn, basic": ort_session(clean, "basic", t),
            "edgecnn, extended": ort_session(clean, "extended", t),
            "edgecnn, all": ort_session(clean, "all", t),
            "TFLite float32": tflite.run,
            "int8 QDQ per-tensor, extended": ort_session(q_tensor, "extended", t),
            "int8 QDQ per-tensor, all": ort_session(q_tensor, "all", t),
            "int8 QDQ per-channel, all": ort_session(q_channel, "all", t),
            "int8 QDQ U8 activations, all": ort_session(q_u8, "all", t),
            "int8 QDQ Gemm only (before #20), all": ort_session(q_gemm, "all", t),
        }
        med_choices = measure(choices, batches, args.rounds)

        mnist = load_mnist()
        x_test = preprocess(mnist.x_test)
        keras_acc = (keras_predict(model, mnist.x_test).argmax(1) == mnist.y_test).mean()
        accuracy = {
            name: (np.concatenate([choices[name](x_test[i: i + 1000]) for i in range(0, len(x_test), 1000)]).argmax(1)
                   == mnist.y_test).mean()
            for name in choices if name.startswith("int8") and name.endswith("all")
        }

    print(f"threads={t}, rounds={args.rounds}, model={'quick 1-epoch' if args.model is None else args.model}")
    names = list(goals)
    report("1. goals (shipped files through edgecnn.runtime)", goals, med_goals, names[0], names[2])
    tp_ratio = med_goals[(names[0], 256)] / med_goals[(names[1], 256)]
    p50_ratio = med_goals[(names[1], 1)] / med_goals[(names[2], 1)]
    print(f"batch-256 throughput vs baseline: {tp_ratio:.3f} (goal >= 1.05: {'met' if tp_ratio >= 1.05 else 'NOT met'})")
    print(f"batch-1 p50 vs TFLite float32:    {p50_ratio:.3f} (goal <= 1.6: {'met' if p50_ratio <= 1.6 else 'NOT met'})")
    report("2. choices (graph x ORT level; int8 QDQ flavours)", choices, med_choices, "tf2onnx raw, ORT default", "TFLite float32")
    print(f"\nKeras test accuracy {keras_acc:.2%}; int8 QDQ ONNX: "
          + ", ".join(f"{name[9:-5]} {acc:.2%}" for name, acc in accuracy.items()))
    int8_report("reference CNN", clean_proto, images, x_test, args.rounds, t)
    if not args.skip_mobilenet:
        fp32, calibration, photos = mobilenet_inputs(args.opset)
        int8_report("MobileNetV2 0.35 (96x96x3)", fp32, calibration, photos, max(3, args.rounds // 3), t)


if __name__ == "__main__":
    main()
