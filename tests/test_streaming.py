"""Data sets that do not fit in memory (issue #21, point 3): a folder of images is a file list decoded
one batch at a time, and every batch is byte-identical to the in-memory path (all images decoded
with ``fit_image`` up front, as the loader did before)."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from edgecnn.data import load_data, preprocess
from edgecnn.data.folder import ImageFiles
from edgecnn.data.stream import batch_size_for, batches
from edgecnn.images import fit_image

sys.path.insert(0, str(Path(__file__).parent))
import own_models  # noqa: E402

NAMES = ("circle", "plus", "square")


@pytest.fixture(scope="module", params=["class-folders", "train-test", "photos-twice-the-size"])
def folder(request, tmp_path_factory):
    """(folder, {path below it: source pixels}, scale): 60 RGB 16x16 shapes as PNGs in one of the layouts."""
    root = tmp_path_factory.mktemp(request.param)
    x, y = own_models.make_shapes(60, 16, 3, seed=4)
    scale = 2 if request.param == "photos-twice-the-size" else 1
    if request.param == "train-test":
        own_models.write_class_folders(root / "train", x[:40], y[:40], NAMES)
        own_models.write_class_folders(root / "test", x[40:], y[40:], NAMES)
    else:
        own_models.write_class_folders(root, x, y, NAMES, scale=scale)
    if request.param == "train-test":
        pixels = {f"{part}/{NAMES[y[i + at]]}/{i:04d}.png": x[i + at]
                  for part, at, n in (("train", 0, 40), ("test", 40, 20)) for i in range(n)}
    else:
        pixels = {f"{NAMES[y[i]]}/{i:04d}.png": x[i] for i in range(len(x))}
    return root, pixels, scale


def _in_memory(files, shape) -> np.ndarray:
    """The in-memory path: every file decoded up front (what load_folder held before it streamed)."""
    return np.stack([fit_image(f, shape) for f in files])


def test_streamed_batches_are_byte_identical_to_the_in_memory_path(folder):
    root, pixels, scale = folder
    data = load_data(root, (16, 16, 3))
    for x in (data.x_train, data.x_test):
        assert isinstance(x, ImageFiles) and x.shape == (len(x.files), 16, 16, 3) and x.dtype == np.uint8
        whole = _in_memory(x.files, (16, 16, 3))
        streamed = list(batches(x, 7))
        assert [len(b) for b in streamed] == [7] * (len(x) // 7) + ([len(x) % 7] if len(x) % 7 else [])
        joined = np.concatenate(streamed)
        assert joined.dtype == np.uint8 and joined.tobytes() == whole.tobytes()
        assert np.asarray(x).tobytes() == whole.tobytes()
        picked = np.array([5, 0, 3])
        assert x[picked].tobytes() == whole[picked].tobytes() and x[2].tobytes() == whole[2].tobytes()
        assert preprocess(x[3:9]).tobytes() == preprocess(whole[3:9]).tobytes()
        if scale == 1:  # lossless PNGs at the model's size: the pixels the test drew, exactly
            assert whole.tobytes() == np.stack([pixels[f.relative_to(root).as_posix()] for f in x.files]).tobytes()


def test_the_split_selects_files_without_decoding_and_pickles_as_paths(folder):
    root, _, _ = folder
    data = load_data(root, (16, 16, 3))
    assert len(data.x_train) + len(data.x_test) == 60 and len(data.y_test) == len(data.x_test)
    sub = data.x_test.subset([1, 0])
    assert sub.files == (data.x_test.files[1], data.x_test.files[0])
    blob = pickle.dumps(data.x_test)
    assert len(blob) < 200 * len(data.x_test)  # file names, not 768-byte images
    assert pickle.loads(blob)[:].tobytes() == data.x_test[:].tobytes()


def test_training_batches_are_the_in_memory_preprocessing_of_a_seeded_order(folder):
    pytest.importorskip("keras")
    from edgecnn.model import streamed_batches

    root, _, _ = folder
    data = load_data(root, (16, 16, 3))
    whole = _in_memory(data.x_train.files, (16, 16, 3))
    y_1h = np.eye(3, dtype=np.float32)[data.y_train]
    ds = streamed_batches(data.x_train, y_1h, 8, seed=0, shuffle=True)
    seen = []
    for i in range(len(ds)):
        xb, yb = ds[i]
        idx = np.sort(ds.order[i * 8: (i + 1) * 8])
        assert xb.tobytes() == preprocess(whole[idx]).tobytes() and (yb == y_1h[idx]).all()
        seen.extend(idx.tolist())
    assert sorted(seen) == list(range(len(whole)))  # every image once per epoch


def test_the_batch_follows_the_image_size_not_the_data_set():
    assert batch_size_for((28, 28), 1000) == 1000  # MNIST keeps its 10 calls over the test set
    assert batch_size_for((224, 224, 3), 1000) == 27  # 16 MiB of float32 input per call
    assert batch_size_for((4000, 4000, 3), 1000) == 1


def test_the_int8_loop_judges_large_photos_in_capped_batches(monkeypatch):
    """export --max-drop runs every candidate file over up to 1,000 judge images: in batches that
    follow the image size (a runtime's activations grow with the batch), not 250 at a time."""
    import edgecnn.export.accuracy as accuracy
    import edgecnn.runtime as runtime

    seen: list[int] = []

    class Recording:
        def predict(self, x):
            seen.append(len(x))
            return np.zeros((len(x), 5), np.float32)

    monkeypatch.setattr(runtime, "load", lambda path, options=None: Recording())
    photos = np.zeros((100, 224, 224, 3), np.uint8)
    probs, _, _ = accuracy.probabilities(b"", ".onnx", photos, timed=False)
    assert probs.shape == (100, 5) and seen[:-1] == [27, 27, 27, 19] and seen[-1] == 1  # then one timing call
    seen.clear()
    accuracy.probabilities(b"", ".onnx", np.zeros((300, 28, 28), np.uint8), timed=False)
    assert seen[:2] == [250, 50]  # small images keep the old batch
