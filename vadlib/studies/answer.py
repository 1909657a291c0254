"""The report's Answer from the seed study: sentences computed from `reports/study/runs.csv` by
`python scripts/study.py seeds report` and committed as `reports/study/answer.json` with what they describe (the
KL weight of each variant, the draws per sampler, each variant's test course_loss per seed). The `report` stage reads
that file and uses the sentences only when they describe its own run (`vadlib/pipeline/report.py`'s
`describes`), so it depends on one JSON file, not on pandas, scipy and this table's schema.
"""
from __future__ import annotations

import numpy as np

from ..infra.markdown import sig as _fmt
from ..measure.comparisons import seed_rule
from .table import FAMILIES, HEADLINE, cell_stats, pairwise

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


def answer_file(df, betas: dict[str, float], n_samples: int, command: str) -> dict:
    """What `reports/study/answer.json` holds: the sentences for these weights (`betas`, variant -> KL weight) and
    draws per sampler (None when the table cannot answer), and what they describe, for the report's `describes`."""
    losses = {v: {str(int(r.seed)): float(r.test_course_loss) for r in _rows_at(df, v, b).itertuples()
                  if r.test_course_loss == r.test_course_loss}
              for v, b in betas.items()}
    return {"command": command, "betas": dict(betas), "n_samples": int(n_samples), "test_course_loss": losses,
            "sentences": answer(df, betas, n_samples)}

