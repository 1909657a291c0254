"""The report's Answer from the seed study: sentences computed from `reports/study/runs.csv` by
`python scripts/study.py seeds report` and committed as `reports/study/answer.json` with what they describe (the
KL weight of each variant, the draws per sampler, each variant's test course_loss per seed). The `report` stage reads
that file and uses the sentences only when they describe its own run (`vadlib/pipeline/report.py`'s
`describes`), so it depends on one JSON file, not on pandas, statsmodels and this table's schema. The sentences read
the study's one analysis (`table.compare`): no second rule judges anything here.
"""
from __future__ import annotations

import numpy as np

from .findings import at_betas, by_beta_text, cells_at, cells_text, effect_text, num, pair_text, rows_at
from .table import CALIBRATION, FAMILIES, HEADLINE, calibration, compare


def _family_beta(betas: dict[str, float]) -> float | None:
    """The families' shared default beta (None when they differ: no family F-test at the default then)."""
    shared = {float(b) for v, b in betas.items() if v in FAMILIES}
    return shared.pop() if len(shared) == 1 else None


def _figure_words(df, cmp, betas: dict[str, float], figure: str) -> str:
    """One figure at the default: the cells, the family effect, each pair as estimate [95% CI], Holm p, verdict."""
    if not df[figure].notna().any():
        return f"{HEADLINE[figure]}: not measured in these runs"
    said = f"{HEADLINE[figure]}: {cells_text(df, betas, figure)}"
    beta = _family_beta(betas)
    effect = effect_text(cmp.effects, figure, beta) if beta is not None else None
    if effect:
        said += f"; family effect {effect}"
    rows = at_betas(cmp.verdicts[cmp.verdicts.figure == figure], betas)
    if len(rows):
        said += "; " + "; ".join(pair_text(r) for _, r in rows.iterrows())
    else:
        said += "; not compared (fewer than two variants with 2 shared seeds)"
    return said


def _calibration_words(df, betas: dict[str, float]) -> str:
    """Each VAD's 90% interval coverage of imputed pixels at its default beta, against 0.9 (`table.calibration`)."""
    verdicts = cells_at(calibration(df)[0], betas)
    said = []
    for figure in CALIBRATION:
        rows = list(verdicts[verdicts.figure == figure].itertuples())
        if rows:
            words = {"equivalent": "calibrated", "differs": "differs"}
            said.append(f"{figure.split('_')[1]}: " + ", ".join(
                f"{r.variant} {num(r.mean, figure)} [{num(r.ci_low, figure)}, {num(r.ci_high, figure)}] "
                f"({words.get(r.verdict, r.verdict)}, n = {r.n_seeds})" for r in rows))
    return ("90% interval coverage against 0.9, " + "; ".join(said)) if said else \
        "90% interval coverage: not tested (no VAD with two seeds of imputation figures)"


def _across_betas(df, cmp) -> str | None:
    """Where, over every KL weight, the families' contrasts differ, are equivalent or stay unresolved, per figure."""
    fam = df[df.variant.isin(FAMILIES)]
    if fam.beta.nunique() < 2:
        return None
    return (f"**Across KL weights** ({fam.beta.min():g} to {fam.beta.max():g}, {len(fam)} family runs; the "
            "families' pairs at each beta): "
            + "; ".join(f"{title}: {by_beta_text(cmp.verdicts, f)}" for f, title in HEADLINE.items()) + ".")


def answer(df, betas: dict[str, float], n_samples: int) -> list[str] | None:
    """The report's answer from the study table: each headline figure at the default operating point (`betas`,
    variant -> its KL weight; `n_samples` draws per sampler) as mean ± seed std (n seeds), the family effect and
    every pair's verdict, then where across KL weights the families differ. None when fewer than two variants have
    two seeds at their default."""
    if df is None or df.empty:
        return None
    have = [v for v, b in betas.items() if rows_at(df, v, b).test_course_loss.dropna().size >= 2]
    if len(have) < 2:
        return None
    cmp = compare(df)
    at = ", ".join(f"{v} {b:g}" for v, b in betas.items())
    said = [f"**Encoding new images** (mean ± std over the study's seeds (n) at each variant's default KL weight: "
            f"{at}; pairs as B − A [95% CI], Holm-adjusted p, verdict): "
            + _figure_words(df, cmp, betas, "test_course_loss"),
            f"**Sampling** (`class_gmm`, {n_samples} draws, only runs whose samples pass the no-copy gate): "
            + ". ".join(_figure_words(df, cmp, betas, f) for f in ("class_gmm_fd_gated",
                                                                  "class_gmm_recognisable_gated")),
            "**Rate** (VADs only): " + ". ".join(_figure_words(df, cmp, betas, f) for f in
                                                 ("test_kl", "test_kl_above_floor", "test_bits_per_dim")),
            "**Latent structure:** " + _figure_words(df, cmp, betas, "knn_accuracy"),
            "**Imputation** (codes fitted on the observed pixels only): "
            + ". ".join(_figure_words(df, cmp, betas, f) for f in HEADLINE if f.startswith("impute_"))
            + ". " + _calibration_words(df, betas)]
    said = [s if s.endswith(".") else s + "." for s in said]
    across = _across_betas(df, cmp)
    return said + ([across] if across else [])


def answer_file(df, betas: dict[str, float], n_samples: int, command: str) -> dict:
    """What `reports/study/answer.json` holds: the sentences for these weights (`betas`, variant -> KL weight) and
    draws per sampler (None when the table cannot answer), and what they describe, for the report's `describes`."""
    losses = {v: {str(int(r.seed)): float(r.test_course_loss) for r in rows_at(df, v, b).itertuples()
                  if np.isfinite(r.test_course_loss)}
              for v, b in betas.items()}
    return {"command": command, "betas": dict(betas), "n_samples": int(n_samples), "test_course_loss": losses,
            "sentences": answer(df, betas, n_samples)}
