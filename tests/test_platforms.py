"""Platform registry, prerequisite messages, host config parsing, comparison; and the emulated Pi check."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edgecnn.errors import PlatformError
from edgecnn.parity import REPRODUCTION_MAX_ABS_DIFF, compare_with_keras
from edgecnn.platforms import NATIVE, PLATFORMS, resolve
from edgecnn.platforms.check import verify_platforms
from edgecnn.platforms import root as rootmod
from edgecnn.platforms.root import CLASSIFY

STANDARD_FILES = ("mnist_cnn_float32.tflite", "mnist_cnn_int8.tflite", "mnist_cnn_float32.onnx", "mnist_cnn_int8.onnx")
ALL_TOOLS = {name: f"/usr/bin/{name}" for name in rootmod.HOST_TOOLS}
GOOD_BINFMT = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\noffset 0\n"


# -- registry -----------------------------------------------------------------------------------
def test_registry_maps_boards_to_their_cores():
    assert PLATFORMS["pi4"].qemu_cpu == "cortex-a72"
    assert PLATFORMS["pi5"].qemu_cpu == "cortex-a76"
    assert [p.name for p in resolve(["pi"])] == ["pi4", "pi5"]
    assert [p.name for p in resolve(["pi5", "pi", "pi4"])] == ["pi5", "pi4"]
    assert [p.key for p in resolve(["pi"])] == ["aarch64-cortex-a72-emulated", "aarch64-cortex-a76-emulated"]
    assert not NATIVE.emulated and NATIVE.key.endswith("-native")


def test_unknown_platform_is_an_error_naming_the_choices():
    with pytest.raises(PlatformError, match=r"unknown platform 'pi3'; choose from pi4, pi5, browser, mcu, cortex-m4, cortex-m7, mediapipe, pi"):
        resolve(["pi3"])


# -- prerequisites ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"is_root": False}, "need root (chroot, debootstrap): run as root; apt-get install qemu-user-static"),
        ({"tools": {**ALL_TOOLS, "qemu-aarch64-static": None, "debootstrap": None}},
         "missing qemu-aarch64-static, debootstrap for the emulated Raspberry Pi: apt-get install qemu-user-static"),
        ({"binfmt_mounted": False}, "binfmt_misc is not mounted, so arm64 programs cannot run: mount -t binfmt_misc"),
        ({"binfmt_entry": None}, "not registered with binfmt_misc: update-binfmts --enable qemu-aarch64"),
        ({"binfmt_entry": "disabled\nflags: PF\n"}, "not registered with binfmt_misc"),
        ({"binfmt_entry": "enabled\nflags: P\n"}, "lacks the F (fix binary) flag"),
    ],
)
def test_each_missing_prerequisite_gives_one_line_with_the_fix(kwargs, message):
    facts = {"is_root": True, "tools": ALL_TOOLS, "binfmt_mounted": True, "binfmt_entry": GOOD_BINFMT, **kwargs}
    problem = rootmod.prerequisite_problem(**facts)
    assert problem is not None and message in problem and "\n" not in problem


def test_a_ready_machine_has_no_problem():
    assert rootmod.prerequisite_problem(True, ALL_TOOLS, True, GOOD_BINFMT) is None


# -- host configuration -------------------------------------------------------------------------
def test_debian_mirror_from_deb822_and_one_line_sources(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\n"
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\n"
    )
    assert rootmod.debian_mirror(tmp_path) == "http://mirror.example/debian"
    (tmp_path / "sources.list").write_text(
        "# deb http://old.example/debian bookworm main\ndeb [arch=amd64] http://one.example/debian bookworm main\n"
    )
    assert rootmod.debian_mirror(tmp_path) == "http://one.example/debian"


def test_no_debian_mirror_is_a_platform_error(tmp_path):
    (tmp_path / "sources.list").write_text("deb http://archive.example/ubuntu jammy main\n")
    with pytest.raises(PlatformError, match="no Debian mirror"):
        rootmod.debian_mirror(tmp_path)


def test_wheel_platforms_are_what_a_bookworm_pi_accepts():
    tags = rootmod.wheel_platforms((2, 36))
    assert tags[0] == "manylinux_2_36_aarch64" and tags[19] == "manylinux_2_17_aarch64"
    assert tags[-2:] == ["manylinux2014_aarch64", "linux_aarch64"] and len(tags) == 22


def test_fake_cpuinfo_names_the_boards_core():
    a72, a76 = rootmod.fake_cpuinfo("cortex-a72"), rootmod.fake_cpuinfo("cortex-a76")
    assert a72.count("processor\t:") == 4 and "CPU part\t: 0xd08" in a72 and "asimddp" not in a72
    assert "CPU part\t: 0xd0b" in a76 and "asimddp" in a76


def test_board_files_never_write_through_a_proc_symlink(tmp_path):
    host_proc = tmp_path / "host_proc"
    host_proc.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "proc").symlink_to(host_proc)  # what debootstrap leaves in a container
    rootmod._present_cpu(root, "cortex-a76")
    assert not (root / "proc").is_symlink() and list(host_proc.iterdir()) == []
    assert "0xd0b" in (root / "proc" / "cpuinfo").read_text()
    assert (root / "sys/devices/system/cpu/possible").read_text() == "0-3\n"


def test_ensure_root_stops_with_the_hosts_problem(monkeypatch, tmp_path):
    monkeypatch.setattr(rootmod, "host_problem", lambda: "missing debootstrap for the emulated Raspberry Pi: apt-get x")
    with pytest.raises(PlatformError, match="^missing debootstrap for the emulated Raspberry Pi"):
        rootmod.ensure_root(rootmod.RootConfig(cache_dir=tmp_path))
    assert list(tmp_path.iterdir()) == []  # nothing built, nothing locked


def test_requirements_come_from_the_bundle_plus_onnxruntime_and_key_the_stamp():
    reqs = rootmod.requirements()
    bundle = [ln.strip() for ln in rootmod.BUNDLE_REQUIREMENTS.read_text().splitlines()
              if ln.strip() and not ln.startswith("#")]
    assert reqs.splitlines() == [*bundle, "onnxruntime"]
    config = rootmod.RootConfig()
    same, other = rootmod.stamp_for(config, reqs), rootmod.stamp_for(config, reqs + "scipy\n")
    assert same == rootmod.stamp_for(config, reqs)
    assert same["requirements_sha256"] != other["requirements_sha256"]
    # A new requirement rebuilds only the venv, not the Debian base.
    assert all(same[k] == other[k] for k in rootmod.BASE_KEYS)


# -- comparison ---------------------------------------------------------------------------------
def _probs(digits, n_classes=10, confidence=0.91):
    p = np.full((len(digits), n_classes), (1 - confidence) / (n_classes - 1), dtype=np.float32)
    p[np.arange(len(digits)), digits] = confidence
    return p


def test_compare_counts_agreement_and_max_diff():
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9] * 100)
    keras = _probs(labels)
    moved = labels.copy()
    moved[:4] = (moved[:4] + 1) % 10  # four images change their top class
    result = compare_with_keras(_probs(moved), keras, labels, "int8")
    assert result["agreement"] == pytest.approx(0.996)
    assert result["accuracy"] == pytest.approx(0.996) and result["keras_accuracy"] == 1.0
    assert result["max_abs_diff"] == pytest.approx(0.9, abs=1e-6)
    # int8 is judged on decisions, not on max|Δ|, and without the same file's host output by the 95 %
    # intervals (#20 point 4): 1,000 images show neither 99.5 % agreement nor a drop above 0.3 points.
    assert result["status"] == "INCONCLUSIVE" and result["passed"] is False and result["reasons"] == [
        "not enough test images to establish 99.5 % agreement (n = 1,000; 4 disagreements; 95 % interval 99.0–99.8 %)",
        "not enough test images to establish an accuracy drop of at most 0.3 points (n = 1,000; drop 0.40 points; "
        "95 % interval −0.1–1.0 points)"]
    many = np.tile(labels, 10)
    three = many.copy()
    three[:30] = (three[:30] + 1) % 10  # exactly the 0.3-point tolerance on 10,000 images: passes
    assert compare_with_keras(_probs(three), _probs(many), many, "int8")["status"] == "PASS"
    near = compare_with_keras(keras + 1e-5, keras, labels, "float32")
    assert near["agreement"] == 1.0 and near["max_abs_diff"] == pytest.approx(1e-5, rel=1e-2)
    assert near["status"] == "PASS"


def test_verify_platforms_shapes_the_section_and_compares_with_native(tmp_path):
    labels = np.arange(1000) % 10
    keras = _probs(labels)
    models = [tmp_path / "mnist_cnn_float32.tflite", tmp_path / "mnist_cnn_int8.tflite"]
    calls = []

    def fake_runner(plat, paths, images, config=None):
        calls.append(plat.key)
        shift = 0.0 if not plat.emulated else 1e-6  # emulated floats differ by rounding
        return {p: keras + shift if "float32" in p.name else _probs(labels, confidence=0.95) for p in paths}

    images = np.zeros((1000, 28, 28), np.uint8)
    # The files do not exist: their precisions come as the verify rows would give them (#16: never the name).
    precisions = {models[0]: "float32", models[1]: "int8"}
    section = verify_platforms(resolve(["pi"]), models, images, labels, keras, runner=fake_runner,
                               precisions=precisions)
    assert calls == [NATIVE.key, "aarch64-cortex-a72-emulated", "aarch64-cortex-a76-emulated"]
    assert list(section) == [NATIVE.key, "aarch64-cortex-a72-emulated", "aarch64-cortex-a76-emulated"]
    a72 = section["aarch64-cortex-a72-emulated"]
    assert a72["qemu_cpu"] == "cortex-a72" and a72["samples"] == 1000 and "not performance" in a72["note"]
    assert a72["passed"] and a72["artifacts"]["mnist_cnn_int8.tflite"]["max_abs_diff"] == pytest.approx(0.04)
    assert a72["artifacts"]["mnist_cnn_float32.tflite"]["vs_native"]["max_abs_diff"] == pytest.approx(1e-6, rel=0.1)
    assert "vs_native" not in section[NATIVE.key]["artifacts"]["mnist_cnn_float32.tflite"]
    json.dumps(section)  # lands in verify.json as is


# -- the bundle's classify.py, natively ---------------------------------------------------------
def test_bundle_classify_matches_the_runtime_natively(exported_dir, mnist, tmp_path):
    """The script the emulated check runs gives what edgecnn.runtime gives, on this machine."""
    from edgecnn.platforms.check import run_on_platform
    from edgecnn.runtime import load

    images = mnist.x_test[:200]
    paths = [exported_dir / name for name in STANDARD_FILES]
    probs = run_on_platform(NATIVE, paths, images)
    for path in paths:
        expected = load(path).predict(images)
        assert probs[path].shape == (200, 10)
        assert np.max(np.abs(probs[path] - expected)) <= 1e-6, path.name


def test_a_failing_classify_run_is_one_platform_error(tmp_path):
    from edgecnn.platforms.check import run_on_platform

    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"not a flatbuffer")
    with pytest.raises(PlatformError, match=rf"^{NATIVE.key}: classify.py failed on broken.tflite \(exit 1: "):
        run_on_platform(NATIVE, [bad], np.zeros((2, 28, 28), np.uint8))


def test_bundle_classify_machine_mode_interface(exported_dir, mnist, tmp_path):
    np.save(tmp_path / "x.npy", mnist.x_test[:5])
    out = tmp_path / "p.npy"
    subprocess.run([sys.executable, str(CLASSIFY), "--model", str(exported_dir / "mnist_cnn_int8.tflite"),
                    "--npy", str(tmp_path / "x.npy"), "--save-probs", str(out)], check=True)
    probs = np.load(out)
    assert probs.dtype == np.float32 and probs.shape == (5, 10)
    assert list(probs.argmax(1)) == list(mnist.y_test[:5])


# -- emulated Raspberry Pi (needs root, qemu-user-static, binfmt_misc, debootstrap) --------------
@pytest.mark.aarch64
def test_standard_artifacts_pass_on_emulated_pi4_and_pi5(exported_dir, mnist, trained_model_path):
    import os

    if os.geteuid() != 0:
        pytest.skip("the emulated Raspberry Pi needs root (chroot, debootstrap, binfmt_misc): run `make test` as root")
    problem = rootmod.host_problem()
    if problem:  # as root, `make test` (platform-deps) sets these up: missing now means a broken setup
        pytest.fail(f"cannot emulate arm64 here: {problem}")
    from edgecnn.model import keras_predict, load_model

    images, labels = mnist.x_test[:1000], mnist.y_test[:1000]
    keras_probs = keras_predict(load_model(trained_model_path), images)
    paths = [exported_dir / name for name in STANDARD_FILES]
    section = verify_platforms(resolve(["pi"]), paths, images, labels, keras_probs)
    print(json.dumps(section, indent=1))
    assert list(section) == [NATIVE.key, "aarch64-cortex-a72-emulated", "aarch64-cortex-a76-emulated"]
    for key, entry in section.items():
        assert entry["samples"] == 1000
        for name, result in entry["artifacts"].items():
            assert result["status"] == "PASS", (key, name, result)
            if result["precision"] == "float32":
                assert result["agreement"] == 1.0 and result["max_abs_diff"] < 1e-5, (key, name, result)
            else:  # judged as a reproduction of the same file in edgecnn's runtime here (#20 point 4)
                assert result["agreement"] >= 0.99, (key, name, result)
                assert result["vs_host"]["passed"] and result["keras_status"] != "FAIL", (key, name, result)
            if "vs_native" in result:  # the same file on the Pi's core vs on this machine
                assert result["vs_native"]["agreement"] >= 0.998, (key, name, result)
                # int8: the Pi's integer kernels round differently from this machine's (AVX2, reduce_range):
                # measured 0.032 for int8 ONNX; the reproduction rule's bound (docs/verify.md).
                bound = 1e-5 if result["precision"] == "float32" else REPRODUCTION_MAX_ABS_DIFF
                assert result["vs_native"]["max_abs_diff"] <= bound, (key, name, result)
