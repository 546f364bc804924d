"""The fast-run cover of edgecnn.web.litert and the `python -m edgecnn.serve` entry point.

The web bundle's browser checks (tests/test_web.py, slow and `browser`) use these variants in
Chromium; here they are checked against the runtime in a few seconds, without a browser.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from edgecnn import runtime
from edgecnn.manifest import read_manifest
from edgecnn.web.litert import VARIANT, convert_variants, variant_name


def test_litert_js_variants_are_batch_1_float_io_and_predict_like_the_standard_files(exported_dir, mnist, tmp_path):
    manifest = read_manifest(exported_dir)
    paths = convert_variants(exported_dir / "mnist_cnn.keras", tmp_path, manifest)
    assert [p.name for p in paths] == [variant_name("mnist_cnn", "float32"), variant_name("mnist_cnn", "int8")]
    assert [p.name for p in paths] == ["mnist_cnn_float32_b1.tflite", "mnist_cnn_int8_b1.tflite"]
    images = mnist.x_test[:20]
    for path, precision in zip(paths, ("float32", "int8")):
        predictor = runtime.load(path)
        meta = predictor.metadata
        assert (meta["variant"], meta["batch"], meta["io"], meta["precision"]) == (VARIANT, 1, "float32", precision)
        assert predictor.input_spec.dtype == "float32" and predictor.output_spec.dtype == "float32"  # even int8
        assert list(predictor.input_spec.shape)[0] == 1  # a static batch of one: what LiteRT.js can run
        ours = np.concatenate([predictor.predict(images[i: i + 1]) for i in range(len(images))])
        standard = runtime.load(exported_dir / f"mnist_cnn_{precision}.tflite").predict(images)
        if precision == "float32":
            np.testing.assert_allclose(ours, standard, atol=1e-6)
        else:  # calibrated like the standard int8 file: the same int8 network inside
            assert meta["calibration"] == {"samples": 500, "seed": 0}
            np.testing.assert_array_equal(ours.argmax(1), standard.argmax(1))
            assert np.abs(ours - standard).max() <= 1 / 256 + 1e-6  # at most one output step apart


def test_python_dash_m_serve_entry_point():
    from edgecnn import serve
    from edgecnn.web import serve as web_serve

    assert serve.main is web_serve.main
    out = subprocess.run([sys.executable, "-m", "edgecnn.serve", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("usage: python -m edgecnn.serve")
    assert "--port" in out.stdout
