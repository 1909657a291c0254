"""Atomic file output (JSON, CSV, tensors) and safe checkpoint loading.

Every file the pipeline writes goes through `atomic_path`: the content lands in a temporary file in
the same folder and is renamed over the target only when complete, so a crash, a kill or a full disk
never leaves a half-written file that DVC could cache as valid.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import torch

from .errors import CheckpointError, VadlibError


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` if the block succeeds."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise VadlibError(f"cannot write {target}: {exc.strerror or exc} (is the folder writable?)") from exc
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, target)
    except OSError as exc:
        raise VadlibError(f"cannot write {target}: {exc.strerror or exc} (disk full or read-only?)") from exc
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """A JSON output of an earlier stage, with one clear error naming the file if it is missing or damaged."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise VadlibError(f"{path}: cannot read ({exc}); rerun the stage that writes it (`dvc repro`)") from None


def write_csv(path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Plot data for DVC; floats with 6 significant digits, so equal results give equal bytes."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])
    write_text(path, buf.getvalue())


def history_rows(history: dict, keys: Sequence[str]) -> list[list]:
    """Per-epoch history dict -> rows of (epoch, *values), epochs counted from 1."""
    n = len(history[keys[0]])
    return [[i + 1, *(float(history[k][i]) for k in keys)] for i in range(n)]


def save_tensors(path: str | os.PathLike, obj: Any) -> None:
    """torch.save a dict of tensors and plain values (loadable with weights_only=True).

    Serialised in memory first: torch names the archive after the file it writes, and the temporary name
    is random, so saving straight to it would make equal content hash differently and let DVC rerun every
    downstream stage after a harmless upstream rerun.
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def load_tensors(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """Load a file written by `save_tensors` without ever unpickling code."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: file not found (run the stage that produces it, e.g. `dvc repro`)")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or unsafe pickles
        raise CheckpointError(
            f"{path}: not a readable vadlib file ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
            "it may be truncated, from another tool, or contain pickled code, which is refused"
        ) from exc
