"""Every picture edgecnn writes (matplotlib, imported inside each function; Agg backend, files only).

``training.png`` (train.json's history), ``confusion.png`` (int8 TFLite predictions),
``disagreements.png`` (verify.json's entries). Each is saved atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgecnn import fileio


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, target: Path, dpi: int = 110) -> Path:
    """Save a matplotlib figure atomically as PNG and close it (no timestamp: same input, same bytes)."""
    plt = _pyplot()
    with fileio.atomic_path(Path(target)) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    return Path(target)


def plot_training(record: dict, target: Path) -> Path:
    """Loss and accuracy per epoch, train and test (from train.json's history)."""
    plt = _pyplot()
    history = record["history"]
    epochs = np.arange(1, len(history) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    for key, label in (("loss", "train"), ("val_loss", "test")):
        ax_loss.plot(epochs, [h[key] for h in history], marker="o", label=label)
    for key, label in (("accuracy", "train"), ("val_accuracy", "test")):
        ax_acc.plot(epochs, [100 * h[key] for h in history], marker="o", label=label)
    ax_loss.set(title="Cross-entropy loss", xlabel="epoch")
    ax_acc.set(title=f"Accuracy (final test {100 * record['test_accuracy']:.2f} %)", xlabel="epoch", ylabel="%")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return save_figure(fig, target)


def plot_confusion(y_true: np.ndarray, y_pred: np.ndarray, target: Path, title: str,
                   labels: tuple[str, ...] | None = None) -> Path:
    """A K x K confusion matrix with counts in every cell (log-scaled colours)."""
    plt = _pyplot()
    from matplotlib.colors import LogNorm

    k = len(labels) if labels else int(max(y_true.max(), y_pred.max())) + 1
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (y_true.astype(int), y_pred.astype(int)), 1)
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    image = ax.imshow(matrix + 1, cmap="Blues", norm=LogNorm())
    for i in range(k):
        for j in range(k):
            if matrix[i, j]:
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if i == j else "black")
    ax.set(xticks=range(k), yticks=range(k), xlabel="predicted", ylabel="true class", title=title)
    if labels:
        ax.set_xticklabels(labels)
        ax.set_yticklabels(labels)
    fig.colorbar(image, ax=ax, shrink=0.8, label="count + 1 (log)")
    fig.tight_layout()
    return save_figure(fig, target)


def plot_disagreements(entries: list[dict[str, Any]], images: np.ndarray | None, target: Path,
                       samples: int, max_images: int = 12) -> Path:
    """The test images where an artifact and Keras disagree, one block per verify.json entry.

    Drawn from the entries alone (``disagreement_indices`` with the true, Keras' and the
    artifact's class of each), so it is rebuilt from the complete current set of results
    whichever artifacts the last command verified. Each image is titled with the true class,
    Keras' and the artifact's; with no disagreement at all the PNG is a one-line note.
    """
    plt = _pyplot()
    groups = [e for e in entries if e.get("disagreement_indices") and e.get("disagreement_predictions")
              and images is not None]
    if not groups:
        fig = plt.figure(figsize=(7, 1.2))
        fig.text(
            0.5, 0.5,
            f"No disagreements: every verified artifact predicts Keras' class\non all {samples:,} test images.",
            ha="center", va="center", fontsize=12,
        )
    else:
        cols = max_images
        fig = plt.figure(figsize=(1.1 * cols, 1.9 * len(groups)), layout="constrained")
        fig.suptitle("Test images where an artifact and Keras disagree (red: the artifact's class is wrong)",
                     fontsize=11)
        subfigs = np.atleast_1d(fig.subfigures(len(groups), 1))
        assert images is not None  # groups holds only entries with images
        for sub, entry in zip(subfigs, groups):
            idx = entry["disagreement_indices"]
            total = int(entry.get("disagreements") or len(idx))
            shown = idx[:cols]
            sub.suptitle(
                f"{entry['path']} ({entry.get('precision')}): {total} disagreement{'s' if total != 1 else ''} "
                "with Keras" + (f", first {len(shown)} shown" if total > len(shown) else ""),
                fontsize=10, x=0.01, ha="left",
            )
            axes = np.atleast_1d(sub.subplots(1, cols))
            for ax in axes:
                ax.axis("off")
            truth, keras, model = (entry["disagreement_labels"], entry["disagreement_keras"],
                                   entry["disagreement_predictions"])
            for j, (ax, i) in enumerate(zip(axes, shown)):
                ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
                ax.set_title(f"true {truth[j]}\nKeras {keras[j]}\nmodel {model[j]}", fontsize=8,
                             color="tab:red" if model[j] != truth[j] else "black")
    return save_figure(fig, target, dpi=100)
