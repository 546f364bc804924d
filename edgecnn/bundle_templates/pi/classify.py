#!/usr/bin/env python3
"""Classify MNIST-style digits with an exported edgecnn model: numpy + one runtime, nothing else.

STAND-IN written by the arm helper (issue 9) with the machine-mode interface the deploy
helper (issue 6) is writing; the lead keeps deploy's file and this interface:

    python classify.py --model M.tflite --npy IMAGES.npy --save-probs OUT.npy

IMAGES.npy holds uint8 pixels shaped (N, 28, 28); OUT.npy receives float32 probabilities
(N, 10). ``.tflite`` files run in ai-edge-litert (or tflite-runtime), ``.onnx`` files in
onnxruntime. Images are also accepted as PNG/JPEG paths (needs Pillow).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

# The one preprocessing (edgecnn.data.PREPROCESSING): uint8 -> float32 x / 255, NHWC.
SCALE = 1.0 / 255.0


def preprocess(images: np.ndarray) -> np.ndarray:
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise SystemExit(f"error: expected uint8 images shaped (N, 28, 28), got {images.dtype} {images.shape}")
    return (images.astype(np.float32) * np.float32(SCALE))[..., np.newaxis]


def _tflite_interpreter(path: str):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        from tflite_runtime.interpreter import Interpreter
    return Interpreter(model_path=path, num_threads=1)


def predict_tflite(path: str, x: np.ndarray) -> np.ndarray:
    interp = _tflite_interpreter(path)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.resize_tensor_input(inp["index"], [len(x), 28, 28, 1], strict=True)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    if inp["dtype"] in (np.int8, np.uint8):
        # int8 scale and zero point come from the model file, never from a guess.
        scale, zero = inp["quantization"]
        info = np.iinfo(inp["dtype"])
        x = np.clip(np.round(x / np.float32(scale)) + zero, info.min, info.max).astype(inp["dtype"])
    interp.set_tensor(inp["index"], x)
    interp.invoke()
    y = interp.get_tensor(out["index"])
    if out["dtype"] in (np.int8, np.uint8):
        scale, zero = out["quantization"]
        y = np.float32(scale) * (y.astype(np.float32) - np.float32(zero))
    return y.astype(np.float32)


def predict_onnx(path: str, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    session = ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.asarray(session.run(None, {name: x})[0], dtype=np.float32)


def predict(path: str, images: np.ndarray) -> np.ndarray:
    x = preprocess(images)
    if path.endswith(".onnx"):
        return predict_onnx(path, x)
    return predict_tflite(path, x)


def load_images(paths: list[str]) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(Image.open(p).convert("L").resize((28, 28)), dtype=np.uint8) for p in paths])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help=".tflite or .onnx file")
    parser.add_argument("--npy", help="uint8 images (N, 28, 28) in a .npy file")
    parser.add_argument("--save-probs", help="write float32 probabilities (N, 10) to this .npy file")
    parser.add_argument("images", nargs="*", help="PNG/JPEG files")
    args = parser.parse_args(argv)
    if bool(args.npy) == bool(args.images):
        parser.error("give either --npy IMAGES.npy or image files")
    images = np.load(args.npy, allow_pickle=False) if args.npy else load_images(args.images)
    probs = predict(args.model, images)
    if args.save_probs:
        np.save(args.save_probs, probs)
    else:
        for name, p in zip(args.images or range(len(probs)), probs):
            print(f"{name}: {int(p.argmax())} ({float(p.max()):.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
