"""Matplotlib figures (headless), saved atomically as PNG."""
from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .io import atomic_path  # noqa: E402


def save_figure(fig, path: str | os.PathLike, dpi: int = 100) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)


def tile(images: np.ndarray, pad: int = 1) -> np.ndarray:
    """[rows, cols, 28, 28] in [0, 1] -> one mosaic with white gutters."""
    rows, cols, h, w = images.shape
    out = np.ones((rows * (h + pad) - pad, cols * (w + pad) - pad), dtype=np.float32)
    for r in range(rows):
        for c in range(cols):
            out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = images[r, c]
    return out


def image_grid(images: np.ndarray, title: str, row_labels: list[str] | None = None, scale: float = 0.6):
    """A titled mosaic of [rows, cols, 28, 28] images, optionally labelled per row."""
    rows, cols = images.shape[:2]
    fig, ax = plt.subplots(figsize=(max(3.0, cols * scale + 1.5), rows * scale + 0.8))
    ax.imshow(tile(images), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    if row_labels:
        ax.set_yticks([r * 29 + 14 for r in range(rows)], row_labels, fontsize=8)
    else:
        ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    return fig


def scatter_by_class(panels: list[tuple[str, np.ndarray, np.ndarray]], class_names: list[str], title: str):
    """Side-by-side scatter plots [(panel title, xy [N, 2], labels [N])] coloured by class, one legend."""
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels) + 2, 6), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, (name, xy, labels) in zip(axes[0], panels):
        for c, cname in enumerate(class_names):
            sel = labels == c
            ax.scatter(xy[sel, 0], xy[sel, 1], s=6, color=cmap(c), label=cname)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=3, frameon=False)
    fig.suptitle(title)
    return fig


def bar_comparison(names: list[str], ours: list[float], reference: list[float | None], ylabel: str, title: str):
    """Grouped bars: our figure beside the original report's for each variant."""
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 2, 4))
    ax.bar(x - 0.2, ours, 0.4, label="this pipeline")
    ax.bar(x + 0.2, [r if r is not None else 0 for r in reference], 0.4, label="original report")
    for i, v in enumerate(ours):
        ax.text(i - 0.2, v, f"{v:.4f}", ha="center", va="bottom", fontsize=8)
    for i, v in enumerate(reference):
        if v is not None:
            ax.text(i + 0.2, v, f"{v:.4f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, names)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    return fig
