"""Fashion-MNIST: find, verify and parse the four IDX files, then write the subsets the pipeline trains on.

Every problem becomes a one-line `DataError` that names the file and says how to fix it, and `prepare`
validates everything before writing, so a bad input never leaves a half-made output for DVC to cache.
"""
from __future__ import annotations

import gzip
import hashlib
import socket
import threading
import zlib
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch

from .config import DATA_ROOT_ENV
from .errors import DataError, VadlibError
from .io import load_tensors

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
SPLITS = {"train": "train", "test": "t10k"}  # split name -> file prefix
# MD5 of the *uncompressed* files: gzip headers differ between mirrors, the IDX bytes do not.
OFFICIAL_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
FILE_NAMES = list(OFFICIAL_MD5)
IMAGE_MAGIC, LABEL_MAGIC, SIDE = 2051, 2049, 28
PROBE_TIMEOUT_S = 5.0  # offline machines must fail in seconds, not hang on DNS or connect
DOWNLOAD_SOCKET_TIMEOUT_S = 60.0


def _file_names(split: str) -> tuple[str, str]:
    if split not in SPLITS:
        raise DataError(f"split: got {split!r}, expected 'train' or 'test'")
    return f"{SPLITS[split]}-images-idx3-ubyte", f"{SPLITS[split]}-labels-idx1-ubyte"


def _search_dirs(root: Path) -> list[Path]:
    """The root itself, then where torchvision's download puts the files."""
    return [root, root / "FashionMNIST" / "raw"]


def find_file(root: str | Path, name: str) -> Path | None:
    """Uncompressed first (no decompression cost), then `.gz`."""
    for folder in _search_dirs(Path(root)):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _missing(root: Path) -> list[str]:
    return [n for n in FILE_NAMES if find_file(root, n) is None]


def _missing_error(root: Path, missing: list[str], note: str = "") -> DataError:
    root = root.resolve()
    if not root.exists():
        where = "does not exist"
    elif len(missing) == len(FILE_NAMES):
        where = "holds none of the Fashion-MNIST files"
    else:
        where = f"lacks {', '.join(missing)} (.gz or uncompressed)"
    return DataError(
        f"Fashion-MNIST data folder {root} {where} (also looked in {root / 'FashionMNIST' / 'raw'}){note}; "
        f"put the four IDX files ({', '.join(FILE_NAMES)}, each .gz or uncompressed) there, "
        f"or point data.root in params.yaml or the env var {DATA_ROOT_ENV} at such a folder, "
        "or set data.download: true on a machine with internet access"
    )


def _probe(url: str, timeout: float) -> str | None:
    """Return why `url`'s host is unreachable, or None; bounded even if DNS itself hangs."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    result: list[str | None] = ["timed out"]

    def attempt():
        try:
            socket.create_connection((parsed.hostname, port), timeout=timeout).close()
            result[0] = None
        except OSError as exc:
            result[0] = str(exc) or type(exc).__name__

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    return result[0]


def _download(root: Path) -> str | None:
    """Try torchvision's download into `root`; return why it failed, or None."""
    try:
        from torchvision.datasets import FashionMNIST
    except Exception as exc:  # torchvision missing or broken
        return f"torchvision unavailable ({exc})"
    reason = _probe(FashionMNIST.mirrors[0], PROBE_TIMEOUT_S)
    if reason:
        return f"cannot reach {urlparse(FashionMNIST.mirrors[0]).hostname}: {reason}"
    created = [p for p in (root, root / "FashionMNIST", root / "FashionMNIST" / "raw") if not p.exists()]
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_SOCKET_TIMEOUT_S)
    try:
        FashionMNIST(str(root), train=True, download=True)
        return None
    except Exception as exc:
        for folder in reversed(created):  # leave no empty folders from a failed attempt
            try:
                folder.rmdir()
            except OSError:
                pass
        return str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    finally:
        socket.setdefaulttimeout(old_timeout)


def ensure_files(root: str | Path, download: bool = False) -> Path:
    """Check that all four files are present, downloading them first if allowed."""
    root = Path(root)
    missing = _missing(root)
    if missing and download:
        reason = _download(root)
        missing = _missing(root)
        if missing:
            raise _missing_error(root, missing, f"; download attempt failed: {reason or 'files still missing'}")
    if missing:
        raise _missing_error(root, missing)
    return root


def _read(path: Path) -> bytes:
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{path}: corrupted gzip file ({exc}); expected a valid .gz of the IDX file, re-download it "
            "or replace it with the uncompressed file"
        ) from None


def _parse(path: Path, data: bytes, images: bool) -> np.ndarray:
    """Check the IDX header against the byte count so truncated or padded files never slip through."""
    kind, magic_want, header = ("images", IMAGE_MAGIC, 16) if images else ("labels", LABEL_MAGIC, 8)
    fix = "re-download it or replace it with a valid Fashion-MNIST IDX file"
    if len(data) < header:
        raise DataError(
            f"{path}: truncated, {len(data)} bytes is shorter than the {header}-byte IDX {kind} header; {fix}"
        )
    magic, n = int.from_bytes(data[0:4], "big"), int.from_bytes(data[4:8], "big")
    if magic != magic_want:
        raise DataError(f"{path}: wrong magic number {magic}, expected {magic_want} for an IDX {kind} file; {fix}")
    shape = (n,)
    if images:
        rows, cols = int.from_bytes(data[8:12], "big"), int.from_bytes(data[12:16], "big")
        if (rows, cols) != (SIDE, SIDE):
            raise DataError(f"{path}: images are {rows}x{cols}, expected {SIDE}x{SIDE}; {fix}")
        shape = (n, SIDE, SIDE)
    want = header + int(np.prod(shape))
    if len(data) != want:
        what = "truncated" if len(data) < want else "has trailing bytes"
        raise DataError(f"{path}: {what}, {len(data)} bytes but the header ({n} {kind}) implies {want}; {fix}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _load_file(root: Path, name: str, images: bool, verify_md5: bool) -> tuple[np.ndarray, Path]:
    path = find_file(root, name)
    if path is None:
        raise _missing_error(root, _missing(root))
    data = _read(path)
    array = _parse(path, data, images)
    digest = hashlib.md5(data).hexdigest() if verify_md5 else None
    if digest and digest != OFFICIAL_MD5[name]:
        raise DataError(
            f"{path}: MD5 {digest} of the uncompressed data differs from the official "
            f"Fashion-MNIST ({OFFICIAL_MD5[name]}); re-download it, or set data.verify_md5: false for "
            "deliberately custom data"
        )
    return array, path


def load_split(root: str | Path, split: str, verify_md5: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (images uint8 [N,28,28], labels int64 [N]) of one split, fully validated."""
    root = Path(root)
    image_name, label_name = _file_names(split)
    images, image_path = _load_file(root, image_name, True, verify_md5)
    labels, label_path = _load_file(root, label_name, False, verify_md5)
    if len(images) != len(labels):
        raise DataError(
            f"{image_path} has {len(images)} images but {label_path} has {len(labels)} labels; "
            "expected equal counts, the two files must come from the same split"
        )
    if len(labels) and labels.max() >= len(CLASS_NAMES):
        bad = int(np.argmax(labels >= len(CLASS_NAMES)))
        raise DataError(
            f"{label_path}: label {int(labels[bad])} at index {bad}, expected 0..{len(CLASS_NAMES) - 1}; "
            "re-download it or fix the custom labels"
        )
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def select_subset(labels: torch.Tensor, n: int, mode: str, seed: int, *, name: str = "n") -> torch.Tensor:
    """Indices (int64, file order) of `n` examples: the first n, or n balanced over classes at random."""
    total = len(labels)
    if not 1 <= n <= total:
        raise DataError(f"{name}: got {n} but the split has {total} images; expected 1..{total}")
    if mode == "first":
        return torch.arange(n, dtype=torch.int64)
    if mode != "stratified":
        raise DataError(f"subset: got {mode!r}, expected 'first' or 'stratified'")
    k = len(CLASS_NAMES)
    generator = torch.Generator().manual_seed(seed)
    picks = []
    for c in range(k):
        want = n // k + (c < n % k)
        pool = (labels == c).nonzero().squeeze(1)
        if len(pool) < want:
            raise DataError(
                f"{name}: a stratified subset of {n} needs {want} images of class {c} ({CLASS_NAMES[c]}) "
                f"but the split has only {len(pool)}; lower {name} or use subset: first"
            )
        picks.append(pool[torch.randperm(len(pool), generator=generator)[:want]])
    return torch.sort(torch.cat(picks)).values


def validation_rows(n_split: int, test_idx: torch.Tensor, n_val: int) -> torch.Tensor:
    """The validation images' rows of the test split: the first `n_val` in file order that the test subset does not
    hold (with `subset: first`, rows n_test .. n_test + n_val - 1). Disjoint from the test images by construction, and
    from everything any model or the evaluator trains on (the train split)."""
    free = torch.ones(n_split, dtype=torch.bool)
    free[test_idx] = False
    rows = free.nonzero().squeeze(1)
    if n_val > len(rows):
        raise DataError(f"data.n_val: got {n_val} but the test split has only {len(rows)} images besides the "
                        f"{len(test_idx)} test images; lower data.n_val or data.n_test (n_val: 0 for none)")
    return rows[:n_val]


def per_class(labels: torch.Tensor) -> dict[str, int]:
    counts = torch.bincount(labels, minlength=len(CLASS_NAMES)).tolist()
    return dict(zip(CLASS_NAMES, counts))


def evaluator_pool(n_split: int, used: torch.Tensor, pool: str) -> torch.Tensor:
    """Train-split rows the evaluator may learn from: those no variant trains on (`unused`), or every row (`all`)."""
    if pool == "all":
        return torch.arange(n_split)
    unused = torch.ones(n_split, dtype=torch.bool)
    unused[used] = False
    return unused.nonzero().squeeze(1)


def subset_payload(images: torch.Tensor, labels: torch.Tensor, idx: torch.Tensor) -> dict:
    return {"images": images[idx], "labels": labels[idx], "indices": idx, "class_names": list(CLASS_NAMES)}


def load_prepared(path: str | Path) -> dict:
    """Load a split written by `prepare`, refusing files whose layout downstream stages would misread."""
    path = Path(path)
    try:
        obj = load_tensors(path)
    except VadlibError as exc:
        raise DataError(str(exc)) from None
    fix = "rerun the prepare stage (`dvc repro prepare`)"
    if not isinstance(obj, dict) or not {"images", "labels", "indices", "class_names"} <= obj.keys():
        raise DataError(f"{path}: expected a dict with images, labels, indices, class_names; {fix}")
    images, labels, indices = obj["images"], obj["labels"], obj["indices"]

    def is_tensor(x, dtype, shape):
        return isinstance(x, torch.Tensor) and x.dtype == dtype and x.ndim == len(shape) and all(
            want is None or got == want for got, want in zip(x.shape, shape))

    if not is_tensor(images, torch.uint8, (None, SIDE, SIDE)):
        raise DataError(f"{path}: images must be a uint8 tensor [N,{SIDE},{SIDE}]; {fix}")
    for key, value in (("labels", labels), ("indices", indices)):
        if not is_tensor(value, torch.int64, (len(images),)):
            raise DataError(f"{path}: {key} must be an int64 tensor [{len(images)}] matching images; {fix}")
    if obj["class_names"] != CLASS_NAMES:
        raise DataError(f"{path}: class_names must be the ten Fashion-MNIST classes in label order; {fix}")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(CLASS_NAMES)):
        raise DataError(f"{path}: labels outside 0..{len(CLASS_NAMES) - 1}; {fix}")
    return obj
