"""Write small, valid Fashion-MNIST-style IDX files so tests never need the real 30 MB download.

Labels cycle 0..9 so every class is present; the low-level writers take a `magic` argument so tests can
build deliberately broken files.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np


def _write(path: Path, header: list[int], payload: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join(int(v).to_bytes(4, "big") for v in header) + payload
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


def write_idx_images(path, array, magic: int = 2051) -> Path:
    """Write uint8 images [N,rows,cols] as IDX3; gzip-compressed if `path` ends in .gz."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    n, rows, cols = array.shape
    return _write(path, [magic, n, rows, cols], array.tobytes())


def write_idx_labels(path, array, magic: int = 2049) -> Path:
    """Write uint8 labels [N] as IDX1; gzip-compressed if `path` ends in .gz."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    return _write(path, [magic, len(array)], array.tobytes())


def fashion_arrays(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8)


def write_fashion_idx(folder, n_train: int = 200, n_test: int = 100, gz: bool = True, seed: int = 0) -> dict:
    """Write the four standard files into `folder`; return {file stem: (images or labels array)}."""
    folder = Path(folder)
    suffix = ".gz" if gz else ""
    out = {}
    for prefix, n, s in (("train", n_train, seed), ("t10k", n_test, seed + 1)):
        images, labels = fashion_arrays(n, s)
        write_idx_images(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx_labels(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
        out[f"{prefix}-images-idx3-ubyte"], out[f"{prefix}-labels-idx1-ubyte"] = images, labels
    return out
