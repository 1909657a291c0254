"""The latent-distribution study: its grid, one table row per run, and its report.

One run is one DVC experiment `study-<variant>-b<beta>-s<seed>` (`scripts/study.py seeds` queues, collects and
reports them). Each finished run becomes one row of `reports/study/runs.csv`; its per-test-image errors are copied
beside it (`reports/study/per_image/<run>.csv`). The table's schema and the statistics that judge it live in
`study_stats` (the report stage reads them too); they are re-exported here for the script.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..infra.errors import VadlibError
from ..infra.io import write_text
from . import ablation
from ..infra.markdown import MISSING
from ..infra.markdown import table as md_table
from ..infra.markdown import sig as _fmt
from ..measure.comparisons import paired_bootstrap
from ..core.images import N_PIXELS
from ..measure.course import COURSE_REPORT
from ..measure.reconstruction import course_loss_from_squared_errors
from .table import (AD, COLUMNS, FAMILIES, FIXED_COLUMNS, FIXED_SAMPLERS, HEADLINE,  # noqa: F401
                    METRIC_COLUMNS, TABLE, append_rows, cell_stats, load_table, pairwise, read_per_image, read_rows,
                    row_key)

BETAS = (0.002, 0.02, 0.2, 1.0)
SEEDS = tuple(range(10))  # where the answer is open: the default beta, 0.2, 1.0 and the AD
FEW_SEEDS = {0.02: (0, 1, 2)}  # betas where three seeds already settle what the study asks
PREFIX = "study-"
PER_IMAGE_DIR = Path("reports/study/per_image")
REPORT = Path("reports/study.md")
FIGURES = Path("reports/study/figures")
TIMED_STAGES = ("train", "fit", "evaluate")  # the stages a study run reruns for its variant (their wall seconds)

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

def row_from_metrics(run: Run, metrics: dict, seconds: dict[str, dict], baseline: str, experiment: str,
                     evaluator_md5: str | None = None) -> dict:
    """One table row from an experiment's metrics/variants/<variant>.json and its metrics/seconds/<stage>/<variant>.json
    files ({stage: content}); figures a variant lacks (the AD's KL and ELBO) stay empty. `evaluator_md5` names the
    measuring instrument (models/evaluator.pt's hash in the experiment's dvc.lock)."""
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
            "baseline": baseline,
            "experiment": experiment,
            "machine": "; ".join(sorted(set(devices))), "cpu": "; ".join(sorted(set(cpus))),
            "evaluator_md5": evaluator_md5 or "", "seconds": round(total, 2) if seconds else None}


# -- the report ----------------------------------------------------------------------------------------------------

def _verdict(real) -> str:
    return "undetermined (< 2 seeds)" if real is None else ("**real**" if real else "not real")


def _figure(df, path: Path) -> None:
    import matplotlib.pyplot as plt

    from ..infra.figures import save_figure

    fig, axes = plt.subplots(2, 3, figsize=(15, 8), constrained_layout=True)
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
        ax.legend(fontsize=7)
    fig.suptitle("Mean over seeds, error bars: seed std")
    save_figure(fig, path)


# the other figures the report tabulates per cell (not judged pairwise)
MORE = {"best_fd": "best sampler's FD", "best_precision": "precision", "best_recall": "recall",
        "best_density": "density", "best_coverage": "coverage", "logreg_accuracy": "logistic probe (standardised)",
        "logreg_unscaled_accuracy": "logistic probe (as is)", "active_units": "active units",
        "test_code_log_likelihood": "test codes' log-likelihood (nats)"}


def _picks(group) -> str:
    """One cell's best sampler and its FD, per seed."""
    return ", ".join(f"s{int(r['seed'])}: {r['best_sampler']} {_fmt(r['best_fd'], 3)}"
                     for r in group.sort_values("seed").to_dict("records"))


def _cells_table(df, columns: dict[str, str], seeds: bool = False) -> list[str]:
    """One markdown row per (variant, beta): each column's mean ± sample std over seeds (– where empty or one seed)."""
    rows = []
    for (variant, beta), group in df.groupby(["variant", "beta"]):
        cells = []
        for metric in columns:
            v = group[metric].dropna()
            spread = _fmt(v.std(ddof=1)) if len(v) > 1 else MISSING
            cells.append(MISSING if v.empty else f"{_fmt(v.mean())} ± {spread}")
        rows.append([variant, f"{beta:g}", *([str(group.seed.nunique())] if seeds else []), *cells])
    return md_table(["variant", "beta", *(["seeds"] if seeds else []), *columns.values()], rows)


def write_report(table: str | os.PathLike, expected: Sequence[Run], out: str | os.PathLike = REPORT,
                 figures: str | os.PathLike = FIGURES, per_image_dir: str | os.PathLike = PER_IMAGE_DIR,
                 n_boot: int = 10000, seed: int = 0, ablation_table: str | os.PathLike = ablation.TABLE) -> str:
    """Write the study's markdown report (and its figure) from the table; returns the text. Lists missing runs.
    The Uniform ablation's table (`ablation_table`, when present) closes it."""
    out, figures, per_image_dir = Path(out), Path(figures), Path(per_image_dir)
    df = load_table(table)
    have = {row_key(r) for r in df.to_dict("records")}
    missing = [r.name for r in expected if r.key not in have]
    lines = ["# What does the latent distribution change? The seed-replicated study", "",
             f"Written by `python scripts/study.py seeds report` from [`{Path(table).as_posix()}`]"
             f"({Path(os.path.relpath(table, out.parent)).as_posix()}). Each row is one DVC experiment "
             "`study-<variant>-b<beta>-s<seed>` at the default training, fitting and 5000 draws per sampler, scored by "
             "the whole `evaluate` stage. A difference between two cells (variant, beta) is called **real** only when "
             "|mean difference| > 3 x U, U the larger of the two cells' 95% one-sided upper bounds of the seed std "
             "(chi-square: 4.4 x the std for 3 seeds).", "",
             "One run: `dvc exp run --queue -n study-<variant>-b<beta>-s<seed> -S seed=<seed> "
             "-S variants.<variant>.beta=<beta> evaluate@<variant>` (`python scripts/study.py seeds queue`), "
             "which reruns that variant's train, fit and evaluate. The seed is the global `seed`: the evaluator "
             "network (the measuring instrument) is retrained per seed, so runs at one seed share data, decoder "
             "initialisation and instrument, and the spread over seeds includes the instrument's noise. The negative "
             "ELBO is in nats per image under a Gaussian pixel likelihood on [0, 1] pixels whose variance is the "
             "train reconstructions' MSE (a density, comparable between runs, not with discrete-likelihood figures).",
             "",
             f"Runs present: {len(df)} of {len(expected)} expected."]
    if missing:
        lines += ["", f"Missing runs ({len(missing)}): " + ", ".join(f"`{m}`" for m in missing) + "."]
    if df.empty:
        lines += ["", "No runs yet: `python scripts/study.py seeds queue` runs them, `collect` adds them to the table."]
        lines += ablation_section(ablation_table, out)
        text = "\n".join(lines) + "\n"
        write_text(out, text)
        return text
    fig_path = figures / "study.png"
    _figure(df, fig_path)
    lines += ["", f"![headline figures against beta]({Path(os.path.relpath(fig_path, out.parent)).as_posix()})", "",
              "## Cells: mean ± seed std", "", *_cells_table(df, HEADLINE, seeds=True)]
    lines += ["", "More figures per cell, mean ± seed std: the best sampler's FD and PRDC (the best sampler can differ "
              "between seeds, below), the logistic probes, active units, and the test codes' log-likelihood under "
              "the best fitted density.", "", *_cells_table(df, MORE)]
    lines += ["", "Samples are compared on one sampler's raw figures, `class_gmm` (the default pipeline's best), in every "
              "run. The best sampler of a run (lowest FD against held-out images among those that pass the no-copy "
              "gate) can change with beta, and its FD with it:", "",
              *md_table(["variant", "beta", "best sampler, FD (per seed)"],
                        ([variant, f"{beta:g}", _picks(group)] for (variant, beta), group in df.groupby(["variant", "beta"])))]
    judged = [p for metric in HEADLINE for p in pairwise(df, metric)]
    lines += ["", "## Pairwise: which differences are real by the seed rule", "",
              *md_table(["figure", "A", "B", "B − A", "3 x U", "verdict"],
                        ([HEADLINE[p["metric"]], p["a"], p["b"], _fmt(p["diff"]), _fmt(p["threshold"]),
                          _verdict(p["real"])] for p in judged))]
    lines += ["", "## Paired bootstrap: test reconstruction, same beta and seed", "",
              "B's minus A's test MSE (per pixel, [0, 1]) and test course_loss, both from the per-image squared "
              f"errors; 95% percentile interval from {n_boot} resamples of the test images, the same resample for A "
              f"and B (numpy, seed {seed}; course_loss recomputed over each resample's batches of 64).", "",
              ]
    boot_rows, boot = 0, []
    for (beta, s), group in df.groupby(["beta", "seed"]):
        runs = {r["variant"]: r["run"] for r in group.to_dict("records") if r["variant"] in FAMILIES}
        names = [f for f in FAMILIES if f in runs]
        for i, fa in enumerate(names):
            for fb in names[i + 1:]:
                pa, pb = per_image_dir / f"{runs[fa]}.csv", per_image_dir / f"{runs[fb]}.csv"
                if not (pa.exists() and pb.exists()):
                    continue
                sa, sb = read_per_image(pa), read_per_image(pb)
                boot_rows += 1
                for figure, stat in (("test MSE", lambda x: x.mean(axis=-1) / N_PIXELS),
                                     ("test course_loss", course_loss_from_squared_errors)):
                    r = paired_bootstrap(sa, sb, n_boot, seed, statistic=stat)
                    boot.append([f"{beta:g}", str(int(s)), fa, fb, figure, _fmt(r["diff"]),
                                 f"[{_fmt(r['lo'])}, {_fmt(r['hi'])}]", "yes" if r["excludes_zero"] else "no"])
    if not boot_rows:
        boot.append([MISSING] * 6 + ["no pair of runs with per-image files yet", MISSING])
    lines += md_table(["beta", "seed", "A", "B", "figure", "B − A", "95% interval", "excludes 0"], boot)
    lines += ["", "## Per beta", ""]
    for beta in sorted(df.beta.unique()):
        fam = [p for p in judged if p["beta"] == beta and p["a"].split()[0] in FAMILIES]
        real = [f"{HEADLINE[p['metric']]} ({p['a'].split()[0]} vs {p['b'].split()[0]}: {_fmt(p['diff'])})"
                for p in fam if p["real"]]
        open_ = sum(p["real"] is None for p in fam)
        if not fam:
            sentence = "fewer than two families present, nothing to compare."
        elif real:
            sentence = "real differences between families: " + "; ".join(real) + "."
        else:
            sentence = f"no difference between families is real by the seed rule ({len(fam)} comparisons"
            sentence += f", {open_} undetermined)." if open_ else ")."
        lines.append(f"- beta {beta:g}: {sentence}")
    lines += ablation_section(ablation_table, out)
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
            "control; each step keeps the earlier ones. Step 0 is the original recipe: Adam at lr 0.01 for decoder "
            "and codes at constant rates, no weight decay, the Uniform's bounds (a, b) learned raw (`uniform_ab`), the "
            "class start, and test codes fitted from a random start at lr 0.01. The last step is today's default. The "
            "codes' optimiser is SparseAdam throughout (the original used dense Adam), and beta is today's 0.002.",
            "", *ablation.markdown(rows, original)]
