"""The study's findings in words, from the one analysis of comparisons (`table.compare`) and the table's cells: the
pieces that reports/study.md, the report's Answer (answer.json) and the README's "Results at a glance" share, so the
three say the same thing in the same way. Nothing here judges a difference; it only reads the verdicts.
"""
from __future__ import annotations

import math
import os
import re
import textwrap
from pathlib import Path

import numpy as np

from ..infra.errors import VadlibError
from ..infra.io import write_text
from ..infra.markdown import sig as _fmt
from ..measure.comparisons import DIFFERS, EQUIVALENT, NOT_RESOLVED
from . import ablation
from .table import AD, FAMILIES, FIXED_SAMPLERS, HEADLINE, MARGINS, calibration, compare

SAMPLE_FIGURES = ("class_gmm_fd_gated", "class_gmm_recognisable_gated")
README = Path("README.md")
WIDTH = 120  # the README's line length
BEGIN, END = "<!-- study-results:begin -->", "<!-- study-results:end -->"


# -- cells -------------------------------------------------------------------------------------------------------------

def rows_at(df, variant: str, beta: float):
    """The table's rows of one cell (variant, beta), whatever the seeds."""
    return df[(df.variant == variant) & np.isclose(df.beta, beta)]


def decimals(figure: str) -> int | None:
    """Decimals a judged figure prints with: one digit finer than its margin (course_loss 5, KL 1, FD 2)."""
    margin = MARGINS.get(figure)
    return None if margin is None else max(0, 1 - math.floor(math.log10(margin)))


def num(value, figure: str | None = None) -> str:
    """A figure's value at its decimals; 4 significant digits for a figure without a margin."""
    d = decimals(figure) if figure else None
    if d is None or value is None or not np.isfinite(value):
        return _fmt(value)
    return f"{float(value) + 0.0:.{d}f}".replace("-0." + "0" * d, "0." + "0" * d) if d else f"{float(value):.0f}"


def pm(values, figure: str | None = None) -> str:
    """Seeds' values as mean ± sample std (n seeds); the std needs two."""
    v = np.asarray(values, dtype=float)
    spread = f" ± {num(v.std(ddof=1), figure)}" if v.size > 1 else ""
    return f"{num(v.mean(), figure)}{spread} ({v.size})"


def cell_text(df, variant: str, beta: float, figure: str) -> str | None:
    """One cell's figure as mean ± std (n seeds); why not, where it has runs but no value; None without runs."""
    rows = rows_at(df, variant, beta)
    if rows.empty:
        return None
    v = rows[figure].dropna()
    if len(v):
        return pm(v, figure)
    return "no run passes the no-copy gate" if figure.endswith("_gated") else "not measured"


def cells_text(df, betas: dict[str, float], figure: str) -> str:
    """Every variant at its own beta: "`ad` 0.0982 ± 0.0002 (3), `normal` ..." (variants without runs left out)."""
    said = [(v, cell_text(df, v, b, figure)) for v, b in betas.items()]
    return ", ".join(f"`{v}` {t}" for v, t in said if t is not None and not (v == AD and t == "not measured"))


# -- verdicts ----------------------------------------------------------------------------------------------------------

def verdict_words(r) -> str:
    """A verdict, the margin named where it is an equivalence."""
    return f"equivalent (within ±{_fmt(r['margin'], 2)})" if r["verdict"] == EQUIVALENT else r["verdict"]


def pair_text(r) -> str:
    """One contrast: "uniform − normal 11.9 [5.1, 18.7], Holm p 0.017: differs"."""
    f = r["figure"]
    return (f"{r['B']} − {r['A']} {num(r['estimate'], f)} [{num(r['ci_low'], f)}, {num(r['ci_high'], f)}], "
            f"Holm p {_fmt(r['p_adjusted'], 2)}: {verdict_words(r)}")


def _own(betas: dict[str, float], variant, beta) -> bool:
    return variant in betas and math.isclose(float(beta), float(betas[variant]))


def at_betas(verdicts, betas: dict[str, float]):
    """The contrasts between variants each at its own beta in `betas` (the default operating point)."""
    keep = [_own(betas, a, ba) and _own(betas, b, bb)
            for a, ba, b, bb in zip(verdicts.A, verdicts.beta_A, verdicts.B, verdicts.beta)]
    return verdicts[np.asarray(keep, dtype=bool)] if len(verdicts) else verdicts


def cells_at(rows, betas: dict[str, float]):
    """Per-cell rows (variant, beta: `against_target`'s) of each variant at its own beta in `betas`."""
    keep = [_own(betas, v, b) for v, b in zip(rows.variant, rows.beta)]
    return rows[np.asarray(keep, dtype=bool)] if len(rows) else rows


def family_rows(verdicts, figure: str, beta: float):
    """The contrasts between families at one beta (the AD's against them excluded)."""
    v = verdicts[verdicts.figure == figure]
    return v[np.isclose(v.beta.astype(float), beta) & np.isclose(v.beta_A.astype(float), beta) & (v.A != AD)]


def effect_text(effects, figure: str, beta: float) -> str | None:
    """The F-test of the family effect at one beta: "F(2, 4) = 1.35, Holm p 0.36"."""
    if effects is None or not len(effects):
        return None
    e = effects[(effects.figure == figure) & np.isclose(effects.beta.astype(float), beta)]
    if e.empty:
        return None
    r = e.iloc[0]
    return f"F({r['df_num']:g}, {r['df_denom']:g}) = {_fmt(r['F'], 3)}, Holm p {_fmt(r['p_adjusted'], 2)}"


def counts(rows) -> str:
    """How a set of contrasts came out: "3 pairs: 2 differ, 1 not resolved" (equivalence with its margin)."""
    n = len(rows)
    parts = []
    for verdict, word in ((DIFFERS, "differ" if n > 1 else "differs"), (EQUIVALENT, "equivalent"),
                          (NOT_RESOLVED, "not resolved")):
        k = int((rows.verdict == verdict).sum())
        if k:
            margin = f" within ±{_fmt(rows.margin.iloc[0], 2)}" if verdict == EQUIVALENT else ""
            parts.append(f"{k} {word}{margin}")
    return f"{n} pair{'s' if n != 1 else ''}: " + ", ".join(parts)


def overall(rows) -> str:
    """One word for a set of contrasts: differs if any pair does, equivalent if all are, else not resolved."""
    if (rows.verdict == DIFFERS).any():
        return DIFFERS
    return EQUIVALENT if len(rows) and (rows.verdict == EQUIVALENT).all() else NOT_RESOLVED


def by_beta(verdicts, figure: str) -> dict[str, list[float]]:
    """{overall verdict: the betas where the families' contrasts of `figure` come out that way}."""
    v = verdicts[(verdicts.figure == figure) & (verdicts.A != AD)]
    out: dict[str, list[float]] = {}
    for beta in sorted(v.beta.astype(float).unique()):
        out.setdefault(overall(family_rows(verdicts, figure, beta)), []).append(beta)
    return out


def by_beta_text(verdicts, figure: str) -> str:
    """"differs at beta 0.2, 1; not resolved at beta 0.002" (or that nothing was compared)."""
    found = by_beta(verdicts, figure)
    if not found:
        return "not compared (no values in these runs)"
    words = {DIFFERS: "differ", EQUIVALENT: f"equivalent within ±{_fmt(MARGINS[figure], 2)}",
             NOT_RESOLVED: "not resolved"}
    return "; ".join(f"{words[k]} at beta {', '.join(f'{b:g}' for b in found[k])}"
                     for k in (DIFFERS, EQUIVALENT, NOT_RESOLVED) if k in found)


# -- the gate ----------------------------------------------------------------------------------------------------------

def gate_counts(group) -> dict[str, int]:
    """Of one cell's runs, how many pass the no-copy gate per fixed sampler, and how many have a best sampler (the
    best is chosen among those that pass, "none" when no sampler does)."""
    return {"runs": len(group), **{s: int(group[f"{s}_passes"].sum()) for s in FIXED_SAMPLERS},
            "best": int((group.best_sampler != "none").sum())}


def gateless_cells(df, sampler: str = "class_gmm") -> list[str]:
    """The cells where no run's `sampler` passes the gate ("normal 0.02"): their sample figures are not compared."""
    return [f"{v} {b:g}" for (v, b), g in df.groupby(["variant", "beta"]) if not g[f"{sampler}_passes"].any()]


# -- README: Results at a glance -----------------------------------------------------------------------------------------

def _design(df, betas: dict[str, float]) -> str:
    seeds = sorted(int(s) for s in df.seed.unique())
    fam_betas = sorted(df[df.variant.isin(FAMILIES)].beta.unique())
    n_seeds = df.groupby(["variant", "beta"]).seed.nunique()
    return (f"**Design.** {len(df)} runs: Normal, Uniform and Laplace at KL weight beta = "
            f"{', '.join(f'{b:g}' for b in fam_betas)} and the AD at its code penalty {betas.get(AD, 0):g}, "
            f"{n_seeds.min()}{'' if n_seeds.min() == n_seeds.max() else f'-{n_seeds.max()}'} seeds per cell (seeds {seeds[0]}-{seeds[-1]}). Every figure below is "
            "a mean ± std over a cell's seeds (n). Verdicts: seed-blocked contrasts, Holm over each figure's "
            "contrasts, equivalence (TOST) against stated margins ([docs/method.md](docs/method.md#comparing-variants)).")


def _default_figure(df, cmp, betas: dict[str, float], figure: str) -> str:
    """A figure at the default operating point: the cells, the families' contrasts, the AD's against them."""
    rows = at_betas(cmp.verdicts[cmp.verdicts.figure == figure], betas)
    fam, ad = rows[rows.A != AD], rows[rows.A == AD]
    said = [f"{HEADLINE[figure]} {cells_text(df, betas, figure)}"]
    if len(fam):
        said.append(f"families {counts(fam)}")
    if len(ad):
        said.append(f"the AD against them {counts(ad)}")
    if not len(rows):
        said.append("not compared")
    return "; ".join(said)


def _kl_weight(df) -> str | None:
    fam = df[df.variant.isin(FAMILIES)]
    if fam.beta.nunique() < 2:
        return None
    lo, hi = fam.beta.min(), fam.beta.max()
    ends = []
    for figure in ("test_course_loss", "class_gmm_fd_gated"):
        means = fam.groupby(["variant", "beta"])[figure].mean().dropna().reset_index()
        a, b = means[means.beta == lo][figure], means[means.beta == hi][figure]
        if len(a) and len(b):
            ends.append(f"{HEADLINE[figure]} from {_fmt(a.min(), 3)}-{_fmt(a.max(), 3)} to "
                        f"{_fmt(b.min(), 3)}-{_fmt(b.max(), 3)}")
    return (f"**KL weight.** From beta {lo:g} to {hi:g} the families' cell means go: " + "; ".join(ends) + "."
            if ends else None)


def _ablation_bullet(table) -> str | None:
    rows = ablation.read_rows(table)
    if not rows:
        return None
    last = max(rows, key=lambda r: int(r["step"]))
    return (f"**The original Uniform failure.** The Uniform ablation ({len(rows)} single runs of Uniform and Normal, "
            f"one change at a time from the original recipe to today's, last: {last['change']}) closes "
            "[reports/study.md](reports/study.md); single runs, so it carries no verdict here.")


def glance(df, betas: dict[str, float], ablation_table=ablation.TABLE) -> list[str]:
    """The README's "Results at a glance": 5-9 bullets, every figure a mean over seeds, every "no difference" an
    equivalence within its margin or "not resolved"."""
    if df.empty:
        return ["No study runs yet: `python scripts/study.py seeds queue`."]
    cmp = compare(df)
    at = ", ".join(f"{v} {b:g}" for v, b in betas.items())
    bullets = [_design(df, betas),
               f"**Encoding new images at the default** ({at}): " + _default_figure(df, cmp, betas,
                                                                                       "test_course_loss") + ".",
               "**Samples at the default** (`class_gmm`, gate-passing runs only): "
               + ". ".join(_default_figure(df, cmp, betas, f) for f in SAMPLE_FIGURES) + ".",
               _kl_weight(df),
               "**Rate across KL weights** (families at each beta): "
               + "; ".join(f"{HEADLINE[f]}: {by_beta_text(cmp.verdicts, f)}"
                           for f in ("test_kl", "test_kl_above_floor", "test_bits_per_dim")) + ".",
               "**Latent structure at the default:** " + _default_figure(df, cmp, betas, "knn_accuracy") + ".",
               _imputation_bullet(df, cmp, betas),
               _gate_bullet(df),
               _ablation_bullet(ablation_table)]
    return [line for b in bullets if b for line in textwrap.wrap(f"- {b}", WIDTH, subsequent_indent="  ",
                                                                  break_long_words=False, break_on_hyphens=False)]


def _imputation_bullet(df, cmp, betas: dict[str, float]) -> str:
    """Imputation at the default: the bottom half hidden (imputed MSE across variants), and how many VAD cells' 90%
    coverage is calibrated, differs from 0.9 or is not resolved (`table.calibration`)."""
    head = "**Imputation at the default** (codes fitted on the observed pixels only): "
    if not df["impute_bottom_mse"].notna().any():
        return head + "no study run has imputation figures yet (runs queued now impute too)."
    verdicts, _ = calibration(df)
    mine = cells_at(verdicts, betas)
    said = [_default_figure(df, cmp, betas, "impute_bottom_mse")]
    if len(mine):
        tally = ", ".join(f"{k} {word}" for verdict, word in ((DIFFERS, "differ from 0.9"), (EQUIVALENT, "calibrated"),
                                                              (NOT_RESOLVED, "not resolved"))
                          if (k := int((mine.verdict == verdict).sum())))
        said.append(f"90% interval coverage of the VADs' completions, {len(mine)} cells x conditions: {tally} (means "
                    f"{mine['mean'].min():.2f}-{mine['mean'].max():.2f})")
    return head + "; ".join(said) + " ([reports/study.md](reports/study.md))."


def _gate_bullet(df) -> str:
    none = gateless_cells(df)
    passing = int(df["class_gmm_passes"].sum())
    tail = (f"; in {', '.join(none)} no run passes, so their sample figures are not compared" if none else "")
    return (f"**The no-copy gate.** `class_gmm` samples pass in {passing} of {len(df)} runs{tail} (per cell: "
            "[reports/study.md](reports/study.md)).")


def rewrite_readme(lines: list[str], path: str | os.PathLike = README) -> str:
    """Replace what lies between the study-results markers of the README with `lines`; returns the new text."""
    path = Path(path)
    text = path.read_text()
    pattern = re.compile(re.escape(BEGIN) + r"\n.*?" + re.escape(END), re.S)
    if len(pattern.findall(text)) != 1:
        raise VadlibError(f"{path}: expected one {BEGIN} ... {END} block, found {len(pattern.findall(text))}")
    new = pattern.sub(lambda _: "\n".join([BEGIN, *lines, END]), text)
    if new != text:
        write_text(path, new)
    return new


def readme_block(text: str) -> list[str]:
    """The lines between the README's study-results markers."""
    start, end = text.index(BEGIN), text.index(END)
    return text[start + len(BEGIN):end].strip("\n").split("\n")
