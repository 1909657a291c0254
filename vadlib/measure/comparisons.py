"""The statistics of comparisons between runs, as pure functions of arrays: the report and the studies use these, and
only these, to call a difference real.

- the seed rule: a difference between two cells' seed means is *real* only when it exceeds 3 x U, U the larger of the
  two cells' seed-std 95% one-sided upper bounds (std x `std_upper_factor(n)`, chi-square); with fewer than two
  seeds in either cell it is undetermined;
- the paired bootstrap: the percentile interval of a difference between two runs scored on the same items (test
  images), resampling items with a seeded numpy generator.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..infra.errors import VadlibError


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


def std_upper_factor(n: int, level: float = 0.95) -> float:
    """One-sided upper confidence bound of a standard deviation estimated from n runs, as a multiple of the estimate
    (chi-square with n - 1 degrees of freedom): 4.4 for 3 seeds, so a 3-seed std proves little on its own."""
    from scipy.stats import chi2

    return math.sqrt((n - 1) / chi2.ppf(1 - level, n - 1))
