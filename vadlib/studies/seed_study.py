"""The latent-distribution study: its grid, one table row per run, and its report.

One run is one DVC experiment `study-<variant>-b<beta>-s<seed>` (`scripts/study.py seeds` queues, collects and
reports them). Each finished run becomes one row of `reports/study/runs.csv`; its per-test-image errors are copied
beside it (`reports/study/per_image/<run>.csv`). The table's schema, the judged figures and their margins live in
`table` (re-exported here for the script); the one analysis that judges them in `table.compare`.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..infra.errors import VadlibError
from ..infra.io import write_text
from ..infra.markdown import MISSING
from ..infra.markdown import sig as _fmt
from ..infra.markdown import table as md_table
from ..measure.comparisons import DIFFERS, EQUIVALENT, NOT_RESOLVED
from ..measure.course import COURSE_REPORT
from ..measure.gate import NOT_A_COPY
from . import ablation
from .findings import counts, effect_text, family_rows, gate_counts, num, pm
from .table import (  # noqa: F401
    AD,
    COLUMNS,
    FAMILIES,
    FIXED_COLUMNS,
    FIXED_SAMPLERS,
    CALIBRATION,
    HEADLINE,
    IMPUTE_COLUMNS,
    IMPUTE_CONDITIONS,
    MARGINS,
    METRIC_COLUMNS,
    NELBO,
    TABLE,
    append_rows,
    calibration,
    cell_stats,
    compare,
    load_table,
    read_rows,
    row_key,
)

BETAS = (0.002, 0.02, 0.2, 1.0)
SEEDS = tuple(range(10))  # where the answer is open: the default beta, 0.2, 1.0 and the AD
FEW_SEEDS = {0.02: (0, 1, 2)}  # betas where three seeds already settle what the study asks
PREFIX = "study-"
PER_IMAGE_DIR = Path("reports/study/per_image")
REPORT = Path("reports/study.md")
FIGURES = Path("reports/study/figures")
# the stages a study run reruns for its variant (their wall seconds)
TIMED_STAGES = ("train", "fit", "evaluate", "impute")

_NAME = re.compile(r"study-(?P<variant>[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*?)-b(?P<beta>[0-9.eE+-]+)-s(?P<seed>[0-9]+)")


# -- the grid ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    variant: str
    beta: float
    seed: int

    @property
    def name(self) -> str:
        return run_name(self.variant, self.beta, self.seed)

    @property
    def key(self) -> tuple[str, str, int]:
        return self.variant, f"{self.beta:g}", self.seed


def run_name(variant: str, beta: float, seed: int) -> str:
    return f"{PREFIX}{variant}-b{beta:g}-s{seed}"


def parse_run_name(name: str) -> Run:
    m = _NAME.fullmatch(name)
    if not m:
        raise VadlibError(f"{name!r}: not a study run name, expected study-<variant>-b<beta>-s<seed>")
    try:
        return Run(m["variant"], float(m["beta"]), int(m["seed"]))
    except ValueError:
        raise VadlibError(f"{name!r}: beta {m['beta']!r} is not a number") from None


def grid(ad_beta: float, families: Sequence[str] = FAMILIES, betas: Sequence[float] = BETAS,
         seeds: Sequence[int] = SEEDS, few: dict[float, Sequence[int]] = FEW_SEEDS) -> list[Run]:
    """Every family at every beta, then the AD at its own (default) penalty weight, ordered seed by seed so that a
    grid stopped part-way leaves whole seed blocks (every cell at one seed, on one machine): 10 seeds per cell,
    3 at the betas in `few`; 109 runs by default."""
    runs = []
    for s in seeds:
        runs += [Run(f, float(b), int(s)) for b in betas for f in families if s in few.get(b, seeds)]
        runs.append(Run(AD, float(ad_beta), int(s)))
    return runs


# -- one row per run -----------------------------------------------------------------------------------------------

def impute_cells(imputation: dict | None) -> dict:
    """The study's imputation columns from one metrics/impute/<variant>.json (all empty without one; the AD's
    uncertainty columns stay empty: it has no posterior)."""
    conditions = (imputation or {}).get("conditions", {})
    out = {}
    for condition, short in IMPUTE_CONDITIONS.items():
        c = conditions.get(condition, {})
        u = c.get("uncertainty") or {}
        out.update({f"impute_{short}_mse": c.get("missing", {}).get("mse"),
                    f"impute_{short}_accuracy": c.get("accuracy"),
                    f"impute_{short}_coverage_50": u.get("coverage_50"),
                    f"impute_{short}_coverage_90": u.get("coverage_90"),
                    f"impute_{short}_spread_corr": u.get("correlation")})
    return out


def row_from_metrics(run: Run, metrics: dict, seconds: dict[str, dict], baseline: str, experiment: str,
                     evaluator_md5: str | None = None, imputation: dict | None = None) -> dict:
    """One table row from an experiment's metrics/variants/<variant>.json, its metrics/impute/<variant>.json
    (`imputation`, when the run imputed) and its metrics/seconds/<stage>/<variant>.json files ({stage: content});
    figures a variant lacks (the AD's KL and ELBO) stay empty. `evaluator_md5` names the measuring instrument
    (models/evaluator.pt's hash in the experiment's dvc.lock)."""
    try:
        test, latent = metrics["test"], metrics["latent"]
        chosen = metrics["best_sampler"]
        best = chosen["name"]
        sample = metrics["samples"].get(best, {})
    except (KeyError, TypeError) as exc:
        raise VadlibError(f"{run.name}: metrics file lacks {exc}; is it a metrics/variants/<variant>.json?") from None
    devices = [s.get("device") for s in seconds.values() if s.get("device")]
    cpus = [s.get("cpu") for s in seconds.values() if s.get("cpu")]
    total = sum(v for s in seconds.values() for k, v in s.items() if k.endswith("_seconds"))
    return {"run": run.name, "variant": run.variant, "family": metrics.get("distribution", ""),
            "beta": f"{run.beta:g}", "seed": run.seed,
            "test_course_loss": test["course_loss"], "test_mse": test["mse"], "test_kl": test.get("kl"),
            "test_nelbo": test.get("nelbo"), "test_nelbo_rec": test.get("nelbo_rec"),
            "test_kl_floor": test.get("kl_floor"), "test_bits_per_dim": test.get("bits_per_dim"), "best_sampler": best,
            "best_fd": sample.get("fd"), "best_recognisable": sample.get("recognisable"),
            "best_precision": sample.get("precision"), "best_recall": sample.get("recall"),
            "best_density": sample.get("density"), "best_coverage": sample.get("coverage"),
            **{f"{s}_{k}": metrics["samples"].get(s, {}).get(k) for s in FIXED_SAMPLERS
               for k in ("fd", "recognisable", "nn_train_ratio")},
            "best_held_out_fd": chosen.get("held_out_fd"), "knn_accuracy": latent.get("knn_accuracy"),
            "logreg_accuracy": latent.get("logreg_accuracy"),
            "logreg_unscaled_accuracy": latent.get("logreg_unscaled_accuracy"),
            "active_units": latent.get("active_units"),
            "test_code_log_likelihood": metrics.get("code_density", {}).get("best_test_log_likelihood"),
            **impute_cells(imputation),
            "baseline": baseline,
            "experiment": experiment,
            "machine": "; ".join(sorted(set(devices))), "cpu": "; ".join(sorted(set(cpus))),
            "evaluator_md5": evaluator_md5 or "", "seconds": round(total, 2) if seconds else None}


# -- the report ----------------------------------------------------------------------------------------------------

def _figure(df, path: Path) -> None:
    import matplotlib.pyplot as plt

    from ..infra.figures import save_figure

    rows = -(-len(HEADLINE) // 4)
    fig, axes = plt.subplots(rows, 4, figsize=(20, 4 * rows), constrained_layout=True, squeeze=False)
    for ax, (metric, title) in zip(axes.flat, HEADLINE.items()):
        stats = cell_stats(df, metric)
        for family in FAMILIES:
            s = stats[stats.variant == family].sort_values("beta")
            if len(s):
                ax.errorbar(s.beta, s["mean"], yerr=s["std"].fillna(0), marker="o", capsize=3, label=family)
        ad = stats[stats.variant == AD]
        if len(ad):
            m, sd = float(ad["mean"].iloc[0]), float(ad["std"].fillna(0).iloc[0])
            ax.axhline(m, color="k", ls="--", lw=1, label=f"ad (penalty {ad.beta.iloc[0]:g})")
            ax.axhspan(m - sd, m + sd, color="k", alpha=0.1)
        ax.set(xscale="log", xlabel="beta (KL weight)", title=title)
        if stats.empty:
            ax.text(0.5, 0.5, "no values yet", ha="center", va="center", transform=ax.transAxes)
        else:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(HEADLINE):]:
        ax.axis("off")
    fig.suptitle("Mean over seeds, error bars: seed std (sample figures: gate-passing runs only)")
    save_figure(fig, path)


# the other figures the report tabulates per cell (not judged)
MORE = {"best_fd": "best sampler's FD", "best_precision": "precision", "best_recall": "recall",
        "best_density": "density", "best_coverage": "coverage", "logreg_accuracy": "logistic probe (standardised)",
        "logreg_unscaled_accuracy": "logistic probe (as is)", "active_units": "active units",
        "test_code_log_likelihood": "test codes' log-likelihood (nats)", "test_nelbo": NELBO}


def _picks(group) -> str:
    """One cell's best sampler and its FD, per seed."""
    return ", ".join(f"s{int(r['seed'])}: {r['best_sampler']} {_fmt(r['best_fd'], 3)}"
                     for r in group.sort_values("seed").to_dict("records"))


def _cells_table(df, columns: dict[str, str], seeds: bool = False) -> list[str]:
    """One markdown row per (variant, beta): each column's mean ± sample std (n seeds) (– where empty)."""
    rows = []
    for (variant, beta), group in df.groupby(["variant", "beta"]):
        cells = [pm(v, metric) if len(v := group[metric].dropna()) else MISSING for metric in columns]
        rows.append([variant, f"{beta:g}", *([str(group.seed.nunique())] if seeds else []), *cells])
    return md_table(["variant", "beta", *(["seeds"] if seeds else []), *columns.values()], rows)


def _header(table, out: Path) -> list[str]:
    """The title, the design and the analysis, with every term defined on first use."""
    margins = ", ".join(f"{HEADLINE[f]} {num(MARGINS[f], f)}" for f in HEADLINE)
    return ["# What does the latent distribution change? The seed-replicated study", "",
            f"Written by `python scripts/study.py seeds report` from [`{Path(table).as_posix()}`]"
            f"({Path(os.path.relpath(table, out.parent)).as_posix()}). Each row is one DVC experiment "
            "`study-<variant>-b<beta>-s<seed>` at the default training, fitting and 5000 draws per sampler, scored by "
            "the whole `evaluate` and `impute` stages: `dvc exp run --queue -n study-<variant>-b<beta>-s<seed> "
            "-S seed=<seed> -S variants.<variant>.beta=<beta> evaluate@<variant> impute@<variant>` "
            "(`python scripts/study.py seeds queue`; runs queued before imputation joined the study have no "
            "imputation figures). The seed "
            "is the global `seed`: the evaluator network (the measuring instrument) is retrained per seed, so runs at "
            "one seed share data, decoder initialisation and instrument, and form a block.", "",
            "**Terms.** *course_loss*: the course's reconstruction measure (0-255 scale, batches of 64), lower is "
            "better. *FD*: Frechet distance between samples and test images in the evaluator's feature space, lower "
            "is better. *recognisable*: the share of samples the evaluator classifies with confidence. *`class_gmm`*: "
            "the sampler that fits one Gaussian mixture per class to the train codes. *The no-copy gate*: a sampler's "
            "samples count only when their mean distance to the nearest training image (evaluator features) is >= "
            f"{NOT_A_COPY} x that of real test images; sample figures here come from gate-passing runs only. *nats*: "
            "natural-log units of information (KL to N(0, I) per image); a family's *floor* is the least KL its "
            "posteriors can have (Uniform and Laplace cannot match N(0, I)). *bits/dim*: the test images' importance-sampled "
            "negative log-likelihood, -log2 p(x) per pixel, lower is better.", "",
            "**The analysis** (`vadlib/measure/comparisons.py`, one rule for every comparison). Per figure and beta "
            "the model value ~ C(variant) + C(seed) is fitted by OLS on the seeds every compared variant has; each "
            "pair's contrast B − A comes with its 95% interval, and the F-test of the variant term asks whether any "
            "family differs. The AD, at its own penalty, is compared with every family cell the same way. Holm's "
            "correction runs over all contrasts of one figure (and, separately, over its F-tests); equivalence is a "
            f"TOST against a stated margin ({margins}; `MARGINS` in `vadlib/studies/table.py`, reasons in "
            "[docs/method.md](../docs/method.md#comparing-variants)). Each pair gets one of three verdicts: "
            "**differs** (Holm p < 0.05), **equivalent** (within the margin, Holm-adjusted TOST p < 0.05) or **not "
            "resolved**."]


def _pair_rows(rows) -> list[list[str]]:
    """Markdown cells of contrasts: A, B, B − A, 95% CI, Holm p, TOST p (Holm), margin, verdict, seeds."""
    out = []
    for _, r in rows.iterrows():
        f = r["figure"]
        a = r["A"] if r["beta_A"] == r["beta"] else f"{r['A']} (beta {float(r['beta_A']):g})"
        verdict = f"**{r['verdict']}**" if r["verdict"] != NOT_RESOLVED else r["verdict"]
        out.append([a, r["B"], num(r["estimate"], f), f"[{num(r['ci_low'], f)}, {num(r['ci_high'], f)}]",
                    _fmt(r["p_adjusted"], 2), _fmt(r["p_tost_adjusted"], 2), num(r["margin"], f), verdict,
                    str(int(r["n_seeds"]))])
    return out


def _comparisons(df, cmp) -> list[str]:
    """Per headline figure and beta: the family F-test and every pair, the AD's against the families included."""
    import numpy as np

    lines = ["", "## Comparisons", "",
             "Per figure and beta: the F-test of the family effect, then each pair; rows naming the AD compare it at "
             "its own penalty with the families at that beta. TOST p is Holm-adjusted like p."]
    head = ["A", "B", "B − A", "95% CI", "Holm p", "TOST p", "margin", "verdict", "seeds"]
    for figure, title in HEADLINE.items():
        v = cmp.verdicts[cmp.verdicts.figure == figure]
        lines += ["", f"### {title}"]
        if v.empty:
            lines.append("\nNot compared: " + ("no values in any run yet." if not df[figure].notna().any() else
                                              "no two variants share 2 seeds with values (notes below)."))
            continue
        for beta in sorted(v.beta.astype(float).unique()):
            rows = v[np.isclose(v.beta.astype(float), beta)]
            effect = effect_text(cmp.effects, figure, beta)
            lines += ["", f"beta {beta:g}: family effect {effect or 'not tested (fewer than two families)'}; "
                      f"{counts(rows)}.", "", *md_table(head, _pair_rows(rows))]
    return lines


def _gate_table(df) -> list[str]:
    """Per cell, how many seeds' samples pass the no-copy gate, for `class_gmm`, the prior and the best sampler."""
    rows, none = [], []
    for (variant, beta), group in df.groupby(["variant", "beta"]):
        c = gate_counts(group)
        rows.append([variant, f"{beta:g}", str(c["runs"]), str(c["class_gmm"]), str(c["prior"]), str(c["best"]),
                     _picks(group)])
        if not c["class_gmm"]:
            none.append(f"{variant} {beta:g}")
    text = (f"In {', '.join(none)} no seed's `class_gmm` samples pass the gate, so the sample figures of those cells "
            "are not compared." if none else "Every cell has gate-passing `class_gmm` runs.")
    return ["", "## The no-copy gate", "",
            "Seeds whose samples pass (`<sampler>_nn_train_ratio` >= "
            f"{NOT_A_COPY}); the best sampler is chosen among those that pass (\"none\" when none does) and can "
            "change with beta and seed, so the compared sample figures are `class_gmm`'s.", "",
            *md_table(["variant", "beta", "seeds", "class_gmm passes", "prior passes", "a best sampler",
                       "best sampler, FD (per seed)"], rows), "", text]


IMPUTE_TITLES = {"random50": "half dropped at random", "bottom": "bottom half hidden", "centre": "centre 14x14 hidden"}


def _target_rows(rows) -> list[list[str]]:
    """Markdown cells of one-cell-against-target rows: variant, beta, mean, 95% CI, Holm p, TOST p, verdict, seeds."""
    out = []
    for _, r in rows.iterrows():
        f = r["figure"]
        verdict = {EQUIVALENT: "**calibrated**", DIFFERS: "**differs**"}.get(r["verdict"], r["verdict"])
        out.append([r["variant"], f"{float(r['beta']):g}", num(r["mean"], f),
                    f"[{num(r['ci_low'], f)}, {num(r['ci_high'], f)}]", _fmt(r["p_adjusted"], 2),
                    _fmt(r["p_tost_adjusted"], 2), verdict, str(int(r["n_seeds"]))])
    return out


def _imputation(df) -> list[str]:
    """Which family imputes best (the judged imputation figures are in the comparisons above; here their cells) and
    whether a VAD's uncertainty is calibrated: each cell's 90% interval coverage against 0.9 over its seeds."""
    lines = ["", "## Imputation: which family completes images best, and is its uncertainty calibrated?", "",
             "Each run's `impute@<variant>` stage (metrics/impute/<variant>.json): codes fitted on the observed "
             "pixels of the first test images only (the decoder frozen, fit's recipe), decoded; figures on the "
             "missing pixels. A VAD draws completions from its fitted posterior; its central 90% interval per pixel "
             "should hold the true value 90% of the time. The AD has no posterior: no coverage. The judged figures "
             "(imputed MSE, class kept) are compared in \"Comparisons\" above.", ""]
    columns = {}
    for short, title in IMPUTE_TITLES.items():
        columns.update({f"impute_{short}_mse": f"MSE, {title}", f"impute_{short}_accuracy": f"class kept, {title}",
                        f"impute_{short}_coverage_90": f"90% coverage, {title}"})
    have = df[[c for c in columns]].notna().any(axis=1)
    if not have.any():
        return lines + ["No run has imputation figures yet: runs queued by `python scripts/study.py seeds queue` "
                        "impute as well as evaluate."]
    lines += _cells_table(df[have], columns, seeds=True)
    verdicts, notes = calibration(df)
    lines += ["", "**Calibration.** Each VAD cell's mean 90% coverage over its seeds with its 95% t interval; "
              f"\"calibrated\" is a TOST within ±{MARGINS[next(iter(CALIBRATION))]:g} of 0.9, \"differs\" a t-test "
              "against 0.9 (Holm over every cell and condition).", ""]
    if verdicts.empty:
        lines.append("Not tested: no VAD cell has two seeds with coverage yet.")
    for short, title in IMPUTE_TITLES.items():
        rows = verdicts[verdicts.figure == f"impute_{short}_coverage_90"]
        if len(rows):
            lines += ["", f"{title}:", "", *md_table(["variant", "beta", "mean coverage", "95% CI", "Holm p",
                                                      "TOST p", "verdict", "seeds"], _target_rows(rows))]
    if notes:
        lines += ["", *(f"- {n}" for n in notes)]
    return lines


def _per_beta(cmp) -> list[str]:
    """Per beta, which figures differ, which are equivalent, which stay unresolved (all that beta's pairs)."""
    import numpy as np

    v = cmp.verdicts
    lines = ["", "## Per beta", ""]
    if v.empty:
        return lines + ["Nothing compared yet."]
    for beta in sorted(v.beta.astype(float).unique()):
        said = []
        for verdict, word in ((DIFFERS, "differ"), (EQUIVALENT, "equivalent"), (NOT_RESOLVED, "not resolved")):
            figs = []
            for figure, title in HEADLINE.items():
                fam = family_rows(v, figure, beta)
                ad = v[(v.figure == figure) & np.isclose(v.beta.astype(float), beta) & (v.A == AD)]
                k = int((fam.verdict == verdict).sum()) + int((ad.verdict == verdict).sum())
                if k:
                    figs.append(f"{title} ({k} of {len(fam) + len(ad)})")
            if figs:
                said.append(f"{word}: " + ", ".join(figs))
        lines.append(f"- beta {beta:g} (pairs of families, and the AD against each): " + "; ".join(said) + ".")
    return lines


def write_report(table: str | os.PathLike, expected: Sequence[Run], out: str | os.PathLike = REPORT,
                 figures: str | os.PathLike = FIGURES, ablation_table: str | os.PathLike = ablation.TABLE) -> str:
    """Write the study's markdown report (and its figure) from the table; returns the text. Lists missing runs.
    The Uniform ablation's table (`ablation_table`, when present) closes it."""
    out, figures = Path(out), Path(figures)
    df = load_table(table)
    have = {row_key(r) for r in df.to_dict("records")}
    missing = [r.name for r in expected if r.key not in have]
    lines = [*_header(table, out), "", f"Runs present: {len(df)} of {len(expected)} expected."]
    if missing:
        lines += ["", f"Missing runs ({len(missing)}): " + ", ".join(f"`{m}`" for m in missing) + "."]
    if df.empty:
        lines += ["", "No runs yet: `python scripts/study.py seeds queue` runs them, `collect` adds them to the table."]
        return _finish(lines + ablation_section(ablation_table, out), out)
    fig_path = figures / "study.png"
    _figure(df, fig_path)
    cmp = compare(df)
    lines += ["", f"![headline figures against beta]({Path(os.path.relpath(fig_path, out.parent)).as_posix()})", "",
              "## Cells: mean ± seed std (n seeds)", "",
              *_cells_table(df, {k: v for k, v in HEADLINE.items() if not k.startswith("impute_")}, seeds=True),
              "", "More figures per cell, not judged: the best sampler's FD and PRDC (the best sampler can differ "
              "between seeds), the logistic probes, active units, the test codes' log-likelihood under the best "
              "fitted density, and the " + NELBO + ".", "", *_cells_table(df, MORE)]
    lines += _comparisons(df, cmp) + _gate_table(df) + _imputation(df)
    lines += ["", "## Notes from the analysis", "", *(f"- {n}" for n in cmp.notes or ["none"])]
    lines += _per_beta(cmp)
    return _finish(lines + ablation_section(ablation_table, out), out)


def _finish(lines: list[str], out: Path) -> str:
    text = "\n".join(lines) + "\n"
    write_text(out, text)
    return text


def ablation_section(table: str | os.PathLike, out: Path) -> list[str]:
    """The Uniform ablation's markdown (vadlib/workflows/ablation.py) with the original report's figures on top."""
    rows = ablation.read_rows(table)
    if not rows:
        return []
    original = {f: tuple(f"{v:.4f}" for v in COURSE_REPORT[f]) for f in ("uniform", "normal")}
    return ["", "## Why the original Uniform failed: one change at a time", "",
            f"Written from [`{Path(table).as_posix()}`]({Path(os.path.relpath(table, out.parent)).as_posix()}) "
            "(`python scripts/study.py ablation run`). Train and test course_loss of Uniform and of Normal, the "
            "control; each step keeps the earlier ones. Step 0 is the original recipe: dense Adam at lr 0.01 for "
            "decoder and codes at constant rates, no weight decay, the Uniform's bounds (a, b) learned raw "
            "(`uniform_ab`), the class start, and test codes fitted from a random start at lr 0.01 with dense Adam; "
            "step 1 moves the codes to SparseAdam. The last step is today's default. Rows at another beta run the "
            "original recipe at that KL weight (`--beta`).",
            "", *ablation.markdown(rows, original),
            *(["", said] if (said := ablation.conclusion(rows, COURSE_REPORT)) else [])]
