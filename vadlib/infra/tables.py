"""Committed CSV tables that grow run by run (the study's runs, the Uniform ablation): read with their header checked,
rewritten atomically with rows added, so a kill leaves the old table or the new one, never half of one."""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Iterable, Sequence

from .errors import VadlibError
from .io import write_text


def read_table(path: str | os.PathLike, columns: Sequence[str], what: str) -> list[dict]:
    """The rows as dicts of strings ([] when the file does not exist yet); a foreign header is one clear error."""
    path = Path(path)
    if not path.exists():
        return []
    reader = csv.DictReader(io.StringIO(path.read_text()))
    if tuple(reader.fieldnames or ()) != tuple(columns):
        raise VadlibError(f"{path}: header {reader.fieldnames} is not {what}'s ({', '.join(columns)}); "
                          "move the file aside or fix it by hand")
    return list(reader)


def write_table(path: str | os.PathLike, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Header and rows (sequences of cells, already formatted), written atomically."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    write_text(path, buf.getvalue())
