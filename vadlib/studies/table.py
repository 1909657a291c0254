"""The seed study's table of runs: its schema, reading and appending rows, cells (one variant at one beta) and the
pairs of cells the comparisons judge (`vadlib/measure/comparisons.py` holds the statistics themselves).

Each finished study run is one row of `reports/study/runs.csv` (vadlib/studies/seed_study.py fills it).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from ..infra.errors import VadlibError
from ..infra.tables import read_table, write_table
from ..measure.comparisons import seed_rule
from ..pipeline import artifacts

FAMILIES = ("normal", "uniform", "laplace")
AD = "ad"
TABLE = artifacts.STUDY_TABLE
# The samplers every row also reports by name: the comparison between families is made on one sampler's raw figures
# (the best sampler can differ between runs: at larger beta the mixtures' samples fall under the no-copy gate)
FIXED_SAMPLERS = ("class_gmm", "prior")
FIXED_COLUMNS = tuple(f"{s}_{k}" for s in FIXED_SAMPLERS for k in ("fd", "recognisable", "nn_train_ratio"))
METRIC_COLUMNS = ("test_course_loss", "test_mse", "test_kl", "test_nelbo", "test_nelbo_rec", "test_kl_floor",
                  "test_bits_per_dim", "best_fd",
                  "best_recognisable", "best_precision", "best_recall", "best_density", "best_coverage",
                  *FIXED_COLUMNS,
                  "best_held_out_fd", "knn_accuracy", "logreg_accuracy", "logreg_unscaled_accuracy", "active_units",
                  "test_code_log_likelihood")
COLUMNS = ("run", "variant", "family", "beta", "seed", *METRIC_COLUMNS[:7], "best_sampler", *METRIC_COLUMNS[7:],
           "baseline", "experiment", "machine", "cpu", "evaluator_md5", "seconds")
# the figures the report judges, with their titles; lower is better for the first, second and fourth
HEADLINE = {"test_course_loss": "test course_loss", "class_gmm_fd": "class_gmm FD",
            "class_gmm_recognisable": "class_gmm recognisable", "test_kl": "test KL (nats)",
            "test_nelbo": "test negative ELBO (nats)", "knn_accuracy": "5-NN probe"}


# -- the table ---------------------------------------------------------------------------------------------------------

def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise VadlibError(f"refusing to write a non-finite value ({value!r}) to the study table")
        return repr(float(value))
    return str(value)


def row_key(row: dict) -> tuple[str, str, int]:
    try:
        return str(row["variant"]), f"{float(row['beta']):g}", int(row["seed"])
    except (KeyError, ValueError, TypeError):
        raise VadlibError(f"study row {row!r}: needs variant, a numeric beta and an integer seed") from None


def read_rows(path: str | os.PathLike = TABLE) -> list[dict]:
    """The table's rows as dicts of strings ([] when it does not exist yet); a foreign header is one clear error."""
    return read_table(path, COLUMNS, "the study table")


def append_rows(path: str | os.PathLike, rows: Iterable[dict]) -> tuple[list[str], list[str]]:
    """Append the rows whose (variant, beta, seed) the table lacks; rewrite it atomically. Returns (added, skipped)
    run names, so a grid finished over several days and machines never gets a run twice."""
    existing = read_rows(path)
    seen = {row_key(r) for r in existing}
    added, skipped, new = [], [], []
    for row in rows:
        missing = [c for c in COLUMNS if c not in row]
        if missing:
            raise VadlibError(f"study row {row.get('run', row)!r}: missing columns {', '.join(missing)}")
        key = row_key(row)
        if key in seen:
            skipped.append(row["run"])
            continue
        seen.add(key)
        added.append(row["run"])
        new.append(row)
    if new or not Path(path).exists():
        write_table(path, COLUMNS, [*([row[c] for c in COLUMNS] for row in existing),
                                    *([_cell(row[c]) for c in COLUMNS] for row in new)])
    return added, skipped


def load_table(path: str | os.PathLike = TABLE):
    """The table as a pandas DataFrame (metric columns numeric, empty cells NaN); empty with the columns if absent."""
    import pandas as pd

    rows = read_rows(path)
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    for col in ("beta", "seed", "seconds", *METRIC_COLUMNS):
        try:
            df[col] = pd.to_numeric(df[col].mask(df[col] == ""), errors="raise")
        except (ValueError, TypeError) as exc:
            raise VadlibError(f"{path}: column {col} holds a value that is not a number ({exc})") from None
    return df


# -- statistics ----------------------------------------------------------------------------------------------------

def cell_stats(df, metric: str):
    """mean, sample std (ddof 1; NaN for one seed) and n of `metric` over seeds, per (variant, beta)."""
    vals = df.dropna(subset=[metric])
    return vals.groupby(["variant", "beta"])[metric].agg(mean="mean", std="std", n="count").reset_index()


def read_per_image(path: str | os.PathLike, column: str = "squared_error") -> np.ndarray:
    """One column of a per-image CSV (metrics/per_image/<variant>.csv as collected), in image order."""
    import pandas as pd

    df = pd.read_csv(path)
    if column not in df or "image" not in df:
        raise VadlibError(f"{path}: no `image` and `{column}` columns (got {', '.join(df.columns)})")
    return df.sort_values("image")[column].to_numpy(dtype=float)


def pairwise(df, metric: str) -> list[dict]:
    """The seed rule for every pair of families at the same beta, and the AD against every family cell."""
    out = []
    cells = {(v, b): g[metric].dropna().to_numpy() for (v, b), g in df.groupby(["variant", "beta"])}
    families = [f for f in FAMILIES if any(v == f for v, _ in cells)]
    for beta in sorted({b for _, b in cells}):
        for i, fa in enumerate(families):
            for fb in families[i + 1:]:
                a, b = cells.get((fa, beta)), cells.get((fb, beta))
                if a is not None and b is not None and a.size and b.size:
                    out.append({"metric": metric, "a": f"{fa} b{beta:g}", "b": f"{fb} b{beta:g}", "beta": beta,
                                **seed_rule(a, b)})
    for (v, beta), a in sorted(cells.items()):
        if v != AD or not a.size:
            continue
        for (fb, bb), b in sorted(cells.items()):
            if fb in FAMILIES and b.size:
                out.append({"metric": metric, "a": f"{AD} b{beta:g}", "b": f"{fb} b{bb:g}", "beta": bb,
                            **seed_rule(a, b)})
    return out


