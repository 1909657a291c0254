"""Small CSV writer for the plot files DVC reads (written atomically like everything else)."""
from __future__ import annotations

import csv
import io
import os
from typing import Iterable, Sequence

from .io import write_text


def write_csv(path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence]) -> None:
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
