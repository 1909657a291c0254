"""Markdown for the generated reports: number formats and tables, one rule each, so every report prints a figure
the same way ("–" for a missing value)."""
from __future__ import annotations

import math
from typing import Iterable, Sequence

MISSING = "–"


def fixed(value, digits: int = 4) -> str:
    """`digits` decimals (a course_loss 0.0991, an FD 7.67 with digits=2)."""
    return MISSING if value is None else f"{value:.{digits}f}"


def sig(value, digits: int = 4) -> str:
    """`digits` significant digits; float round-off (a mean difference of -1e-17 between equal values) prints 0."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{round(float(value), 12) + 0.0:.{digits}g}"


def table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A pipe table as lines: the header, the `|---|` rule, one line per row of already formatted cells."""
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(str(c) for c in row) + " |" for row in rows)]
