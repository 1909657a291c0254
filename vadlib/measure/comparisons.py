"""The statistics of comparisons between runs: the studies use these, and only these, to judge a difference.

The seed-blocked analysis (`blocked_contrasts`, `group_effect`, `adjust`, `equivalence`, `verdict`, `compare_table`):
contrasts from the OLS model value ~ C(group) + C(seed), Holm-adjusted over a declared family, with a TOST against a
stated margin, giving "differs", "equivalent" or "not resolved".
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..infra.errors import VadlibError

# -- the seed-blocked analysis -------------------------------------------------------------------------------------
# Every variant run at one seed shares the data order and the evaluator network, so the design is blocked by seed: a
# difference is judged against the residual of the additive model value ~ C(group) + C(block) (statsmodels OLS),
# not against the raw seed-to-seed spread, which the blocks remove. A verdict is one of "differs", "equivalent"
# (TOST within a stated margin) or "not resolved", with Holm's correction over a declared family of tests.

DIFFERS, EQUIVALENT, NOT_RESOLVED = "differs", "equivalent", "not resolved"
VERDICT_COLUMNS = ["figure", "beta", "A", "B", "estimate", "ci_low", "ci_high", "p", "p_adjusted", "margin", "p_tost",
                   "p_tost_adjusted", "n_seeds", "verdict"]


def _blocked_fit(df, value: str, group: str, block: str, groups: list):
    """The OLS fit of value ~ C(group) + C(block) on the blocks every group has, with treatment coding (first group,
    first block as reference). Returns (results, column index of each non-reference group, common blocks, dropped
    blocks as {group: blocks it has that others lack}). Refuses what would make the fit meaningless."""
    import pandas as pd
    import statsmodels.api as sm

    for col in (group, block, value):
        if col not in df.columns:
            raise VadlibError(f"blocked contrasts: the table has no column {col!r} (columns: {list(df.columns)})")
    if len(groups) < 2:
        raise VadlibError(f"blocked contrasts: needs at least two groups to compare, got {groups}")
    missing = [g for g in groups if not (df[group] == g).any()]
    if missing:
        raise VadlibError(f"blocked contrasts: group(s) {missing} absent from column {group!r} "
                          f"(present: {list(pd.unique(df[group]))})")
    sub = df.loc[df[group].isin(groups), [group, block, value]]
    bad = sub[~np.isfinite(sub[value].to_numpy(dtype=float))]
    if len(bad):
        cells = ", ".join(f"{g}/{block} {b}" for g, b in zip(bad[group], bad[block]))
        raise VadlibError(f"blocked contrasts: {value} is NaN or infinite at {cells}; drop or rerun those runs first")
    dup = sub[sub.duplicated([group, block], keep=False)]
    if len(dup):
        cells = sorted({f"{g}/{block} {b}" for g, b in zip(dup[group], dup[block])})
        raise VadlibError(f"blocked contrasts: more than one {value} per cell at {', '.join(cells)}")
    have = {g: set(sub.loc[sub[group] == g, block]) for g in groups}
    common = sorted(set.intersection(*have.values()))
    if len(common) < 2:
        raise VadlibError(f"blocked contrasts: {value} needs at least 2 {block}s that every group has, got "
                          f"{common} (" + "; ".join(f"{g}: {sorted(b)}" for g, b in have.items()) + ")")
    dropped = {g: sorted(b - set(common)) for g, b in have.items() if b - set(common)}
    sub = sub[sub[block].isin(common)]
    X = pd.concat([pd.get_dummies(pd.Categorical(sub[group], categories=groups), drop_first=True),
                   pd.get_dummies(pd.Categorical(sub[block], categories=common), prefix=block, drop_first=True)],
                  axis=1).astype(float)
    X.insert(0, "const", 1.0)
    fit = sm.OLS(sub[value].to_numpy(dtype=float), X.to_numpy()).fit()
    return fit, {g: 1 + i for i, g in enumerate(groups[1:])}, common, dropped


def _groups_of(df, group: str, pairs) -> tuple[list, list]:
    """The compared groups in order of first appearance, and the pairs (default: every pair in that order)."""
    import pandas as pd

    if pairs is None:
        groups = list(pd.unique(df[group])) if group in df.columns else []
        return groups, [(a, b) for i, a in enumerate(groups) for b in groups[i + 1:]]
    pairs = [tuple(p) for p in pairs]
    if not pairs or any(len(p) != 2 or p[0] == p[1] for p in pairs):
        raise VadlibError(f"blocked contrasts: pairs must be non-empty (A, B) with A != B, got {pairs}")
    return list(dict.fromkeys(g for p in pairs for g in p)), pairs


def blocked_contrasts(df, value: str, group: str = "variant", block: str = "seed", pairs=None, level: float = 0.95):
    """B - A for each pair (A, B) from the seed-blocked OLS model value ~ C(group) + C(block), fitted on the seeds
    every compared group has (dropped seeds are warned about and listed in the result's attrs["dropped_seeds"]).
    With two groups this is the paired t-test over seeds. Columns: A, B, estimate, se, ci_low, ci_high, p, df,
    n_seeds."""
    import warnings

    import pandas as pd

    if not 0 < level < 1:
        raise VadlibError(f"blocked contrasts: level must lie in (0, 1), got {level}")
    groups, pairs = _groups_of(df, group, pairs)
    fit, col, common, dropped = _blocked_fit(df, value, group, block, groups)
    rows = []
    for a, b in pairs:
        L = np.zeros((1, len(fit.params)))
        if b in col:
            L[0, col[b]] += 1.0
        if a in col:
            L[0, col[a]] -= 1.0
        t = fit.t_test(L)
        lo, hi = np.asarray(t.conf_int(alpha=1 - level))[0]
        rows.append({"A": a, "B": b, "estimate": float(np.ravel(t.effect)[0]), "se": float(np.ravel(t.sd)[0]),
                     "ci_low": float(lo), "ci_high": float(hi), "p": float(np.ravel(t.pvalue)[0]),
                     "df": float(t.df_denom), "n_seeds": len(common)})
    out = pd.DataFrame(rows)
    out.attrs["dropped_seeds"] = dropped
    if dropped:
        warnings.warn(f"blocked contrasts of {value}: kept the {block}s every group has ({common}); dropped "
                      + "; ".join(f"{g}: {block}s {s}" for g, s in dropped.items()), stacklevel=2)
    return out


def group_effect(df, value: str, group: str = "variant", block: str = "seed", groups=None) -> dict:
    """The F-test of the group term in value ~ C(group) + C(block) (all group effects zero): does any group differ,
    before asking which. Returns F, df_num, df_denom, p, n_seeds."""
    groups = list(groups) if groups is not None else _groups_of(df, group, None)[0]
    fit, col, common, _ = _blocked_fit(df, value, group, block, groups)
    R = np.zeros((len(col), len(fit.params)))
    for i, j in enumerate(col.values()):
        R[i, j] = 1.0
    f = fit.f_test(R)
    return {"F": float(np.ravel(f.fvalue)[0]), "df_num": float(f.df_num), "df_denom": float(f.df_denom),
            "p": float(np.ravel(f.pvalue)[0]), "n_seeds": len(common)}


def adjust(pvalues, method: str = "holm") -> np.ndarray:
    """Multiplicity-adjusted p-values over one declared family of tests (statsmodels multipletests): Holm by default
    (family-wise error), "fdr_bh" for the false discovery rate."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(pvalues, dtype=float).ravel()
    if method not in ("holm", "fdr_bh"):
        raise VadlibError(f"adjust: method must be 'holm' or 'fdr_bh', got {method!r}")
    if not (np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()):
        raise VadlibError(f"adjust: p-values must be finite and in [0, 1], got {p.tolist()}")
    return p if p.size == 0 else multipletests(p, method=method)[1]


def equivalence(contrasts, margin: float, alpha: float = 0.05):
    """TOST of each blocked contrast against the practical margin (-margin, margin), from its estimate, SE and df:
    equivalent when the (1 - 2 alpha) interval (eq_low, eq_high) lies inside; p_tost is the larger one-sided p."""
    from scipy.stats import t

    if not (np.isfinite(margin) and margin > 0) or not 0 < alpha < 0.5:
        raise VadlibError(f"equivalence: needs margin > 0 and 0 < alpha < 0.5, got margin {margin}, alpha {alpha}")
    out = contrasts.copy()
    est, se, df = (out[c].to_numpy(dtype=float) for c in ("estimate", "se", "df"))
    half = t.ppf(1 - alpha, df) * se
    out["margin"] = float(margin)
    out["eq_low"], out["eq_high"] = est - half, est + half
    out["p_tost"] = np.maximum(t.sf((est + margin) / se, df), t.cdf((est - margin) / se, df))
    out["equivalent"] = (out["eq_low"] > -margin) & (out["eq_high"] < margin)
    return out


def _three_verdicts(p_adjusted, p_tost_adjusted, alpha: float):
    """"differs" where the adjusted p < alpha, else "equivalent" where the adjusted TOST p < alpha, else "not
    resolved": the one rule every comparison here ends in."""
    return np.where(np.asarray(p_adjusted) < alpha, DIFFERS,
                    np.where(np.asarray(p_tost_adjusted) < alpha, EQUIVALENT, NOT_RESOLVED))


def verdict(contrasts, margin: float, alpha: float = 0.05, method: str = "holm"):
    """One verdict per contrast, the rows given being the declared family: "differs" when the adjusted p < alpha,
    else "equivalent" when the adjusted TOST p < alpha (margin as given), else "not resolved"."""
    out = equivalence(contrasts, margin, alpha)
    out["p_adjusted"] = adjust(out["p"], method)
    out["p_tost_adjusted"] = adjust(out["p_tost"], method)
    out["verdict"] = _three_verdicts(out["p_adjusted"], out["p_tost_adjusted"], alpha)
    for col in ("figure", "beta"):
        if col not in out.columns:
            out[col] = None
    return out[VERDICT_COLUMNS + [c for c in out.columns if c not in VERDICT_COLUMNS]]


@dataclass
class StudyComparison:
    """compare_table's answer: the verdicts, the family-effect F-tests, and notes on what was left out."""
    verdicts: object  # pandas DataFrame, VERDICT_COLUMNS + the A side's family_by columns ("beta_A") + se, df, ...
    effects: object   # pandas DataFrame: figure, the family_by columns, groups, F, df_num, df_denom, p, p_adjusted
    notes: list = field(default_factory=list)


def _scalar(value) -> str:
    """A key in a note: plain Python, floats as %g (0.2, not np.float64(0.2))."""
    value = value.item() if hasattr(value, "item") else value
    return f"{value:g}" if isinstance(value, float) else str(value)


def _where(family_by: list, key) -> str:
    return "{" + ", ".join(f"'{c}': {_scalar(k)}" for c, k in zip(family_by, key)) + "}"


def _usable_runs(df, figure: str, family_by: list, group: str, block: str, notes: list):
    """The runs whose `figure` is finite, less any group left with fewer than 2 blocks in its cell. A figure missing
    in some runs (a sampler failing the no-copy gate at one seed, a column older rows lack) narrows the comparison
    instead of stopping it; every run and group left out is named in `notes`."""
    import pandas as pd

    keys = family_by + [group]
    finite = pd.Series(np.isfinite(df[figure].to_numpy(dtype=float)), index=df.index)
    defined = finite.groupby([df[k] for k in keys], sort=False).transform("any").astype(bool)
    for key, _ in df[~defined].groupby(keys, sort=False):
        notes.append(f"{figure}: no values for {group} {key[-1]} at {_where(family_by, key[:-1])}; left out")
    partial = df[defined & ~finite]
    if len(partial):
        runs = ", ".join(" ".join([str(r[group]), *(f"{c} {_scalar(r[c])}" for c in family_by),
                                   f"{block} {_scalar(r[block])}"]) for _, r in partial.iterrows())
        notes.append(f"{figure}: no value at {runs}; those runs left out")
    kept = df[finite]
    n = kept.groupby(keys, sort=False)[block].transform("nunique")
    for key, few in kept[n < 2].groupby(keys, sort=False):
        blocks = ", ".join(_scalar(b) for b in sorted(few[block].unique()))
        notes.append(f"{figure}: {group} {key[-1]} at {_where(family_by, key[:-1])} has values at {block} {blocks} "
                     f"only; left out (needs 2)")
    return kept[n >= 2]


def _common_blocks(cell, group: str, block: str) -> list:
    """The blocks every group of `cell` has: the blocked fit needs two of them."""
    return sorted(set.intersection(*(set(g[block]) for _, g in cell.groupby(group, sort=False))))


def compare_table(df, figures, margins: dict, family_by=("beta",), group: str = "variant", block: str = "seed",
                  reference: str | None = None, alpha: float = 0.05, method: str = "holm") -> StudyComparison:
    """The study-level analysis, per figure: within each cell of `family_by` (each beta), the blocked contrasts
    among the groups present; with `reference` (the AD), that group in its own cell(s) against every group of every
    other cell, blocked by seed too. All contrasts of one figure form its declared family for Holm's correction (one
    question per figure: where do the variants differ), and the per-cell F-tests of the group term form a second
    family per figure. Runs whose figure is NaN are left out, and so is a group left with fewer than 2 seeds, or a
    comparison whose groups share fewer than 2 seeds; each is named in the notes."""
    import warnings

    import pandas as pd

    family_by = list(family_by)
    missing = [f for f in figures if f not in margins]
    if missing:
        raise VadlibError(f"compare table: no equivalence margin for {missing}; margins are inputs, state them")
    verdicts, effects, notes = [], [], []
    for figure in figures:
        if figure not in df.columns:
            raise VadlibError(f"compare table: the table has no column {figure!r}")
        if not np.isfinite(df[figure].to_numpy(dtype=float)).any():
            notes.append(f"{figure}: no values in any run; not compared")
            continue
        table = _usable_runs(df, figure, family_by, group, block, notes)
        cells = {k if isinstance(k, tuple) else (k,): g for k, g in table.groupby(family_by, sort=True)}
        jobs = [(k, k, g, None) for k, g in cells.items()]
        if reference is not None:
            for rk, rg in cells.items():
                ref = rg[rg[group] == reference]
                if len(ref):
                    jobs += [(rk, k, pd.concat([ref, g[g[group] != reference]]),
                              [(reference, v) for v in pd.unique(g.loc[g[group] != reference, group])])
                             for k, g in cells.items() if k != rk]
        rows = []
        for a_key, key, cell, pairs in jobs:
            if cell[group].nunique() < 2 or (pairs is not None and not pairs):
                continue
            at = _where(family_by, key) + ("" if a_key == key else f" against {reference} at {_where(family_by, a_key)}")
            common = _common_blocks(cell, group, block)
            if len(common) < 2:
                notes.append(f"{figure} at {at}: {', '.join(map(str, pd.unique(cell[group])))} "
                             f"share {block}s {[c.item() if hasattr(c, 'item') else c for c in common]}, fewer "
                             "than 2; not compared")
                continue
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                c = blocked_contrasts(cell, figure, group, block, pairs)
                if pairs is None:
                    effects.append({"figure": figure, **dict(zip(family_by, key)),
                                    "groups": ", ".join(map(str, pd.unique(cell[group]))),
                                    **group_effect(cell, figure, group, block)})
            notes += [f"{figure} at {at}: {w.message}" for w in caught]
            for col, a, b in zip(family_by, a_key, key):
                c[col], c[f"{col}_A"] = b, a
            rows.append(c)
        if not rows:
            notes.append(f"{figure}: no two groups with 2 shared {block}s anywhere; nothing compared")
            continue
        v = verdict(pd.concat(rows, ignore_index=True), margins[figure], alpha, method)
        v["figure"] = figure
        verdicts.append(v)
    eff = pd.DataFrame(effects, columns=None if effects else
                       ["figure", *family_by, "groups", "F", "df_num", "df_denom", "p", "n_seeds"])
    if len(eff):
        eff["p_adjusted"] = eff.groupby("figure")["p"].transform(lambda p: pd.Series(adjust(p, method), p.index))
    out = (pd.concat(verdicts, ignore_index=True) if verdicts  # nothing to compare: the same columns, no rows
           else pd.DataFrame(columns=[*VERDICT_COLUMNS, *(f"{c}_A" for c in family_by)]))
    return StudyComparison(out, eff, notes)


# -- one cell against a stated target ---------------------------------------------------------------------------
# Calibration asks a different question than the contrasts: is one variant's value (a 90% interval's coverage) at a
# nominal target? Each cell's seeds give a one-sample t interval; the verdicts use the same three words, Holm over
# every cell tested at once.

TARGET_COLUMNS = ["figure", "variant", "beta", "target", "mean", "ci_low", "ci_high", "p", "p_adjusted", "margin",
                  "p_tost", "p_tost_adjusted", "n_seeds", "verdict"]


def against_target(df, targets: dict, margins: dict, cells=("variant", "beta"), alpha: float = 0.05):
    """Per figure (-> its nominal value in `targets`) and cell: the seeds' mean with its 95% t interval, the t-test of
    mean = target, and a TOST of |mean - target| < margin; "differs", "equivalent" or "not resolved", Holm over all
    rows. Cells with fewer than 2 finite values are left out. Returns (DataFrame of TARGET_COLUMNS, notes)."""
    import pandas as pd
    from scipy.stats import t

    rows, notes = [], []
    for figure, target in targets.items():
        if figure not in df.columns:
            raise VadlibError(f"against_target: the table has no column {figure!r}")
        margin = margins.get(figure)
        if margin is None or not (np.isfinite(margin) and margin > 0):
            raise VadlibError(f"against_target: {figure} needs a margin > 0, got {margin!r}")
        for key, cell in df.groupby(list(cells), sort=False):
            values = cell[figure].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            if values.size < 2:
                if values.size:
                    notes.append(f"{figure}: {' '.join(_scalar(k) for k in key)} has {values.size} seed; left out")
                continue
            n, mean, se = values.size, float(values.mean()), float(values.std(ddof=1) / np.sqrt(values.size))
            half = t.ppf(0.975, n - 1) * se
            if se > 0:
                p = float(2 * t.sf(abs(mean - target) / se, n - 1))
                p_tost = float(max(t.sf((mean - target + margin) / se, n - 1),
                                   t.cdf((mean - target - margin) / se, n - 1)))
            else:
                p, p_tost = float(mean != target), float(abs(mean - target) >= margin)
            rows.append({"figure": figure, **dict(zip(cells, key)), "target": float(target), "mean": mean,
                         "ci_low": mean - half, "ci_high": mean + half, "p": p, "margin": float(margin),
                         "p_tost": p_tost, "n_seeds": n})
    out = pd.DataFrame(rows, columns=[c for c in TARGET_COLUMNS if c not in ("p_adjusted", "p_tost_adjusted",
                                                                             "verdict")])
    out["p_adjusted"] = adjust(out["p"]) if len(out) else []
    out["p_tost_adjusted"] = adjust(out["p_tost"]) if len(out) else []
    out["verdict"] = _three_verdicts(out["p_adjusted"], out["p_tost_adjusted"], alpha) if len(out) else []
    return out[TARGET_COLUMNS], notes
