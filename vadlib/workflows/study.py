"""The latent-distribution study: its grid, its table of runs, the statistics that judge it, and its report.

One run is one DVC experiment `study-<variant>-b<beta>-s<seed>` (scripts/study.py queues, collects and reports them).
Each finished run becomes one row of `reports/study/runs.csv`; its per-test-image errors are copied beside it
(`reports/study/per_image/<run>.csv`). The statistics:

- a cell is one (variant, beta): mean and sample std of a figure over its seeds;
- the seed rule: a difference between two cells is *real* only when |mean difference| > 3 x U, U the larger of the
  two cells' seed-std 95% one-sided upper bounds (std x `report.std_upper_factor(n)`, chi-square); with fewer than two
  seeds in either cell it is undetermined;
- the paired bootstrap: the 95% percentile interval of the mean per-image difference between two runs scored on the
  same test images (same beta and seed), resampling images with a seeded numpy generator.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..infra.errors import VadlibError
from ..infra.io import write_text
from ..infra.tables import read_table, write_table
from . import ablation
from .report import ORIGINAL, std_upper_factor

FAMILIES = ("normal", "uniform", "laplace")
BETAS = (0.002, 0.02, 0.2, 1.0)
SEEDS = (0, 1, 2)
AD = "ad"
PREFIX = "study-"
TABLE = Path("reports/study/runs.csv")
PER_IMAGE_DIR = Path("reports/study/per_image")
REPORT = Path("reports/study.md")
FIGURES = Path("reports/study/figures")
TIMED_STAGES = ("train", "fit", "evaluate")  # the stages a study run reruns for its variant (their wall seconds)

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
         seeds: Sequence[int] = SEEDS) -> list[Run]:
    """Every family at every beta and seed, then the AD at its own (default) penalty weight per seed: 39 runs."""
    return ([Run(f, float(b), int(s)) for f in families for b in betas for s in seeds]
            + [Run(AD, float(ad_beta), int(s)) for s in seeds])


# -- one row per run -----------------------------------------------------------------------------------------------

def row_from_metrics(run: Run, metrics: dict, seconds: dict[str, dict], baseline: str, experiment: str) -> dict:
    """One table row from an experiment's metrics/variants/<variant>.json and its metrics/seconds/<stage>/<variant>.json
    files ({stage: content}); figures a variant lacks (the AD's KL and ELBO) stay empty."""
    try:
        test, latent = metrics["test"], metrics["latent"]
        chosen = metrics["best_sampler"]
        best = chosen["name"]
        sample = metrics["samples"].get(best, {})
    except (KeyError, TypeError) as exc:
        raise VadlibError(f"{run.name}: metrics file lacks {exc}; is it a metrics/variants/<variant>.json?") from None
    devices = [s.get("device") for s in seconds.values() if s.get("device")]
    total = sum(v for s in seconds.values() for k, v in s.items() if k.endswith("_seconds"))
    return {"run": run.name, "variant": run.variant, "family": metrics.get("distribution", ""),
            "beta": f"{run.beta:g}", "seed": run.seed,
            "test_course_loss": test["course_loss"], "test_mse": test["mse"], "test_kl": test.get("kl"),
            "test_nelbo": test.get("nelbo"), "test_nelbo_rec": test.get("nelbo_rec"), "best_sampler": best,
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
            "machine": "; ".join(sorted(set(devices))), "seconds": round(total, 2) if seconds else None}


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


# -- the report ----------------------------------------------------------------------------------------------------

def _fmt(x, digits: int = 4) -> str:
    """4 significant digits; float round-off (a mean difference of -1e-17 between equal values) prints as 0."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{round(float(x), 12) + 0.0:.{digits}g}"


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
             f"Written by `python scripts/study.py report` from [`{Path(table).as_posix()}`]"
             f"({Path(os.path.relpath(table, out.parent)).as_posix()}). Each row is one DVC experiment "
             "`study-<variant>-b<beta>-s<seed>` at the default training, fitting and 5000 draws per sampler, scored by "
             "the whole `evaluate` stage. A difference between two cells (variant, beta) is called **real** only when "
             "|mean difference| > 3 x U, U the larger of the two cells' 95% one-sided upper bounds of the seed std "
             "(chi-square: 4.4 x the std for 3 seeds).", "",
             "One run: `dvc exp run --queue -n study-<variant>-b<beta>-s<seed> -S seed=<seed> "
             "-S variants.<variant>.beta=<beta> evaluate@<variant>` (`python scripts/study.py queue`), which reruns "
             "that variant's train, fit and evaluate. The seed is the global `seed`: the evaluator network (the "
             "measuring instrument) is retrained per seed, so runs at one seed share data, decoder initialisation and "
             "instrument, and the spread over seeds includes the instrument's noise. The negative ELBO is in nats "
             "per image under a Gaussian pixel likelihood on [0, 1] pixels whose variance is the train "
             "reconstructions' MSE (a density, comparable between runs, not with discrete-likelihood figures).", "",
             f"Runs present: {len(df)} of {len(expected)} expected."]
    if missing:
        lines += ["", f"Missing runs ({len(missing)}): " + ", ".join(f"`{m}`" for m in missing) + "."]
    if df.empty:
        lines += ["", "No runs yet: `python scripts/study.py queue` runs them, `collect` adds them to the table."]
        lines += ablation_section(ablation_table, out)
        text = "\n".join(lines) + "\n"
        write_text(out, text)
        return text
    fig_path = figures / "study.png"
    _figure(df, fig_path)
    lines += ["", f"![headline figures against beta]({Path(os.path.relpath(fig_path, out.parent)).as_posix()})", "",
              "## Cells: mean ± seed std", "",
              "| variant | beta | seeds | " + " | ".join(HEADLINE.values()) + " |",
              "|---|---|---|" + "---|" * len(HEADLINE)]
    for (variant, beta), group in df.groupby(["variant", "beta"]):
        cells = []
        for metric in HEADLINE:
            v = group[metric].dropna()
            cells.append("–" if v.empty else f"{_fmt(v.mean())} ± {_fmt(v.std(ddof=1)) if len(v) > 1 else '–'}")
        lines.append(f"| {variant} | {beta:g} | {group.seed.nunique()} | " + " | ".join(cells) + " |")
    lines += ["", "Samples are compared on one sampler's raw figures, `class_gmm` (the default pipeline's best), in every "
              "run. The best sampler of a run (lowest FD against held-out images among those that pass the no-copy "
              "gate) can change with beta, and its FD with it:", "",
              "| variant | beta | best sampler, FD (per seed) |", "|---|---|---|"]
    for (variant, beta), group in df.groupby(["variant", "beta"]):
        picks = ", ".join(f"s{int(r['seed'])}: {r['best_sampler']} {_fmt(r['best_fd'], 3)}"
                          for r in group.sort_values("seed").to_dict("records"))
        lines.append(f"| {variant} | {beta:g} | {picks} |")
    judged = [p for metric in HEADLINE for p in pairwise(df, metric)]
    lines += ["", "## Pairwise: which differences are real by the seed rule", "",
              "| figure | A | B | B − A | 3 x U | verdict |", "|---|---|---|---|---|---|"]
    lines += [f"| {HEADLINE[p['metric']]} | {p['a']} | {p['b']} | {_fmt(p['diff'])} | {_fmt(p['threshold'])} | "
              f"{_verdict(p['real'])} |" for p in judged]
    lines += ["", "## Paired bootstrap: test reconstruction, same beta and seed", "",
              "B's minus A's test MSE (per pixel, [0, 1]) and test course_loss, both from the per-image squared "
              f"errors; 95% percentile interval from {n_boot} resamples of the test images, the same resample for A "
              f"and B (numpy, seed {seed}; course_loss recomputed over each resample's batches of 64).", "",
              "| beta | seed | A | B | figure | B − A | 95% interval | excludes 0 |", "|---|---|---|---|---|---|---|---|"]
    boot_rows = 0
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
                for figure, stat in (("test MSE", lambda x: x.mean(axis=-1) / PIXELS),
                                     ("test course_loss", course_loss_from_squared_errors)):
                    r = paired_bootstrap(sa, sb, n_boot, seed, statistic=stat)
                    lines.append(f"| {beta:g} | {int(s)} | {fa} | {fb} | {figure} | {_fmt(r['diff'])} | "
                                 f"[{_fmt(r['lo'])}, {_fmt(r['hi'])}] | {'yes' if r['excludes_zero'] else 'no'} |")
    if not boot_rows:
        lines.append("| – | – | – | – | – | – | no pair of runs with per-image files yet | – |")
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
    original = {f: tuple(f"{v:.4f}" for v in ORIGINAL[f]) for f in ("uniform", "normal")}
    return ["", "## Why the original Uniform failed: one change at a time", "",
            f"Written from [`{Path(table).as_posix()}`]({Path(os.path.relpath(table, out.parent)).as_posix()}) "
            "(`python scripts/uniform_ablation.py`). Train and test course_loss of Uniform and of Normal, the control; "
            "each step keeps the earlier ones. Step 0 is the original recipe: Adam at lr 0.01 for decoder and codes "
            "at constant rates, no weight decay, the Uniform's bounds (a, b) learned raw (`uniform_ab`), the class "
            "start, and test codes fitted from a random start at lr 0.01. The last step is today's default. The "
            "codes' optimiser is SparseAdam throughout (the original used dense Adam), and beta is today's 0.002.",
            "", *ablation.markdown(rows, original)]
