"""The study's table of runs and the statistics that judge it; the report stage reads them too.

Each finished study run is one row of `reports/study/runs.csv` (vadlib/workflows/study.py fills it). The statistics:

- a cell is one (variant, beta): mean and sample std of a figure over its seeds;
- the seed rule: a difference between two cells is *real* only when |mean difference| > 3 x U, U the larger of the
  two cells' seed-std 95% one-sided upper bounds (std x `std_upper_factor(n)`, chi-square); with fewer than two
  seeds in either cell it is undetermined;
- the paired bootstrap: the percentile interval of a difference between two runs scored on the same test images
  (same beta and seed), resampling images with a seeded numpy generator.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..infra import paths
from ..infra.errors import VadlibError
from ..infra.tables import read_table, write_table

FAMILIES = ("normal", "uniform", "laplace")
AD = "ad"
TABLE = paths.STUDY_TABLE
KEY_COLUMNS = ("variant", "beta", "seed")
# The samplers every row also reports by name: the comparison between families is made on one sampler's raw figures
# (the best sampler can differ between runs: at larger beta the mixtures' samples fall under the no-copy gate)
FIXED_SAMPLERS = ("class_gmm", "prior")
FIXED_COLUMNS = tuple(f"{s}_{k}" for s in FIXED_SAMPLERS for k in ("fd", "recognisable", "nn_train_ratio"))
METRIC_COLUMNS = ("test_course_loss", "test_mse", "test_kl", "test_nelbo", "test_nelbo_rec", "best_fd",
                  "best_recognisable", "best_precision", "best_recall", "best_density", "best_coverage",
                  *FIXED_COLUMNS,
                  "best_held_out_fd", "knn_accuracy", "logreg_accuracy", "logreg_unscaled_accuracy", "active_units",
                  "test_code_log_likelihood")
COLUMNS = ("run", "variant", "family", "beta", "seed", *METRIC_COLUMNS[:5], "best_sampler", *METRIC_COLUMNS[5:],
           "baseline", "experiment", "machine", "seconds")
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


def seed_rule(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> dict:
    """Is the difference between two cells' seed means real? |mean(b) - mean(a)| > 3 x U, U the larger of the two
    cells' one-sided `level` upper confidence bounds of the seed std (std x std_upper_factor(n)). `real` is None
    (undetermined) when either cell has fewer than two seeds."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size == 0 or b.size == 0 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise VadlibError(f"seed rule: needs finite values in both cells, got {a.tolist()} and {b.tolist()}")
    diff = float(b.mean() - a.mean())
    if a.size < 2 or b.size < 2:
        return {"diff": diff, "threshold": None, "real": None}
    upper = max(float(a.std(ddof=1)) * std_upper_factor(a.size, level),
                float(b.std(ddof=1)) * std_upper_factor(b.size, level))
    threshold = 3 * upper
    return {"diff": diff, "threshold": threshold, "real": abs(diff) > threshold}


COURSE_BATCH = 64
PIXELS = 784


def course_loss_from_squared_errors(squared: np.ndarray, batch_size: int = COURSE_BATCH) -> np.ndarray:
    """`course_loss` from per-image squared errors on [0, 1] (rows of `squared` [..., n] are image sets in order):
    a batch's ||x - x_rec||_F on 0-255 is 255 sqrt(sum of its images' squared errors), divided by B x 784, then the
    plain mean over consecutive batches (a short last batch counts as one), as `metrics.course_loss` computes it."""
    squared = np.asarray(squared, dtype=float)
    n = squared.shape[-1]
    starts = np.arange(0, n, batch_size)
    sizes = np.minimum(starts + batch_size, n) - starts
    per_batch = 255.0 * np.sqrt(np.add.reduceat(squared, starts, axis=-1)) / (sizes * PIXELS)
    return per_batch.mean(axis=-1)


def paired_bootstrap(a: Sequence[float], b: Sequence[float], n_boot: int = 10000, seed: int = 0,
                     level: float = 0.95, statistic=None) -> dict:
    """Percentile bootstrap interval of statistic(b) - statistic(a) over paired items (resampled together, numpy,
    seeded). `statistic` maps [k, n] resampled rows to [k] values; default the mean (a mean per-image difference)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise VadlibError(f"paired bootstrap: needs two equal-length non-empty 1-d samples, got shapes {a.shape} "
                          f"and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise VadlibError("paired bootstrap: the samples hold NaN or infinite values")
    if n_boot < 1 or not 0 < level < 1:
        raise VadlibError(f"paired bootstrap: got n_boot {n_boot}, level {level}; expected n_boot >= 1, 0 < level < 1")
    stat = statistic or (lambda x: x.mean(axis=-1))
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_boot)
    for start in range(0, n_boot, 1000):  # chunks bound memory at 1000 x n indices
        stop = min(start + 1000, n_boot)
        idx = rng.integers(0, a.size, size=(stop - start, a.size))
        diffs[start:stop] = stat(b[idx]) - stat(a[idx])
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(diffs, [tail, 100 - tail])
    return {"diff": float(stat(b[None])[0] - stat(a[None])[0]), "lo": float(lo), "hi": float(hi), "n": int(a.size),
            "excludes_zero": bool(lo > 0 or hi < 0)}


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


def std_upper_factor(n: int, level: float = 0.95) -> float:
    """One-sided upper confidence bound of a standard deviation estimated from n runs, as a multiple of the estimate
    (chi-square with n - 1 degrees of freedom): 4.4 for 3 seeds, so a 3-seed std proves little on its own."""
    from scipy.stats import chi2

    return math.sqrt((n - 1) / chi2.ppf(1 - level, n - 1))


def _fmt(x, digits: int = 4) -> str:
    """4 significant digits; float round-off (a mean difference of -1e-17 between equal values) prints as 0."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{round(float(x), 12) + 0.0:.{digits}g}"


# -- the answer the report opens with ------------------------------------------------------------------------------

def _pm(values: np.ndarray) -> str:
    """One cell as mean ± seed std."""
    return f"{_fmt(values.mean())} ± {_fmt(values.std(ddof=1), 2)}" if values.size > 1 else _fmt(values.mean())


def _pairs_in_words(cells: dict[str, np.ndarray], most: int = 3) -> str:
    """The seed rule on every pair of cells, in words: the real differences (the `most` largest against their bar),
    or the largest difference and the bar it stays under."""
    names = list(cells)
    judged = [{"a": a, "b": b, **seed_rule(cells[a], cells[b])} for i, a in enumerate(names) for b in names[i + 1:]]
    real = sorted((p for p in judged if p["real"]), key=lambda p: -abs(p["diff"]) / p["threshold"])
    if real:
        shown = "; ".join(f"{p['b']} − {p['a']} {_fmt(p['diff'], 2)} (bar {_fmt(p['threshold'], 2)})"
                          for p in real[:most])
        more = f", and {len(real) - most} more" if len(real) > most else ""
        rest = len(judged) - len(real)
        return f"real by the seed rule: {shown}{more}" + (f"; the other {rest} pairs are not" if rest else "")
    largest = max(judged, key=lambda p: abs(p["diff"]))
    return (f"no pair differs by the seed rule (largest: {largest['b']} − {largest['a']} {_fmt(largest['diff'], 2)}, "
            f"bar {_fmt(largest['threshold'], 2)})")


def _rows_at(df, variant: str, beta: float):
    """The table's rows of one cell (variant, beta), whatever the seeds."""
    return df[(df.variant == variant) & np.isclose(df.beta, beta)]


def _cells_at(df, betas: dict[str, float], metric: str) -> dict[str, np.ndarray]:
    """{variant: its seeds' values of `metric` at that variant's beta}, for the variants that have two or more."""
    out = {}
    for variant, beta in betas.items():
        v = _rows_at(df, variant, beta)[metric].dropna().to_numpy(dtype=float)
        if v.size >= 2:
            out[variant] = v
    return out


def _figure_sentence(df, betas: dict[str, float], metric: str, words: str) -> str | None:
    cells = _cells_at(df, betas, metric)
    if len(cells) < 2:
        return None
    return f"{words} " + ", ".join(f"`{v}` {_pm(x)}" for v, x in cells.items()) + f": {_pairs_in_words(cells)}"


def _across_betas(df) -> str | None:
    """Where, over every KL weight, the seed rule finds the families apart, and in which headline figures nowhere."""
    fam = df[df.variant.isin(FAMILIES)]
    if fam.beta.nunique() < 2:
        return None
    lo_beta, hi_beta = fam.beta.min(), fam.beta.max()
    ends = []
    for metric in ("test_course_loss", "class_gmm_fd"):
        stats = cell_stats(fam, metric)
        lo, hi = stats[stats.beta == lo_beta]["mean"], stats[stats.beta == hi_beta]["mean"]
        if len(lo) and len(hi):
            ends.append(f"{HEADLINE[metric]} goes from {_fmt(lo.min(), 3)}-{_fmt(lo.max(), 3)} to "
                        f"{_fmt(hi.min(), 3)}-{_fmt(hi.max(), 3)}")
    apart, nowhere, open_ = [], [], []
    for metric, title in HEADLINE.items():
        judged = [p for p in pairwise(fam, metric) if p["a"].split()[0] in FAMILIES]
        if not judged:
            continue
        real = [p for p in judged if p["real"]]
        if real:
            top = max(real, key=lambda p: abs(p["diff"]) / p["threshold"])
            at = ", ".join(f"{b:g}" for b in sorted({p["beta"] for p in real}))
            apart.append(f"{title} at beta {at} (largest against its bar: {top['b'].split()[0]} − "
                         f"{top['a'].split()[0]} {_fmt(top['diff'], 2)} at beta {top['beta']:g}, bar "
                         f"{_fmt(top['threshold'], 2)})")
        elif any(p["real"] is None for p in judged):
            open_.append(title)
        else:
            nowhere.append(title)
    line = (f"**Across KL weights** ({_fmt(lo_beta)} to {_fmt(hi_beta)}, {len(fam)} family runs): "
            + ("; ".join(ends) + ". " if ends else ""))
    line += ("The families differ by the seed rule in " + "; in ".join(apart) if apart
             else "The seed rule finds the families apart in no figure at any beta")
    if apart and nowhere:
        line += f"; in {', '.join(nowhere)} at no beta"
    if open_:
        line += f" ({', '.join(open_)}: some cells have fewer than two seeds)"
    return line + "."


def describes(df, betas: dict[str, float], seed: int, test_loss: dict[str, float], rel: float = 0.01) -> bool:
    """Did the study run this configuration? True when, for every variant, the table's row at its beta and `seed`
    has this run's test course_loss (within `rel`: another CPU moves it in the 4th digit). A full-scale run, changed
    params or a stale table fail it, and their report must not borrow the study's seeds."""
    for variant, beta in betas.items():
        cell = _rows_at(df, variant, beta)
        rows = cell[cell.seed == seed]["test_course_loss"]
        if len(rows) != 1 or not math.isclose(float(rows.iloc[0]), test_loss[variant], rel_tol=rel):
            return False
    return True


def answer(df, betas: dict[str, float], n_samples: int) -> list[str] | None:
    """The report's answer from the study table: each figure at the default operating point (`betas`, variant ->
    its KL weight; `n_samples` draws per sampler) as mean ± seed std, every pair of variants judged by the seed rule,
    then where across KL weights the families differ. None when fewer than two variants have two seeds at their
    default (the report then judges against one variant's seed noise)."""
    if df is None or df.empty or len(_cells_at(df, betas, "test_course_loss")) < 2:
        return None
    seeds = ", ".join(str(int(x)) for x in sorted(df.seed.unique()))
    said = [_figure_sentence(df, betas, "test_course_loss", f"**Encoding new images** (test course_loss; here and "
                             f"below mean ± std over the study's seeds {seeds} at this run's weights):")]
    samples = [s for s in (_figure_sentence(df, betas, "class_gmm_fd", "FD"),
                           _figure_sentence(df, betas, "class_gmm_recognisable", "recognisable rate")) if s]
    if samples:
        said.append(f"**Sampling** (`class_gmm`, {n_samples} draws): " + "; ".join(samples))
    rate = [s for s in (_figure_sentence(df, betas, "test_kl", "test KL (nats)"),
                        _figure_sentence(df, betas, "test_nelbo", "negative ELBO (nats)")) if s]
    if rate:
        said.append("**Rate:** " + "; ".join(rate))
    probe = _figure_sentence(df, betas, "knn_accuracy", "**Latent structure** (5-NN class probe on the codes):")
    if probe:
        said.append(probe)
    said = [s if s.endswith(".") else s + "." for s in said]
    across = _across_betas(df)
    return said + ([across] if across else [])
