"""The seed study's table of runs: its schema, reading and appending rows, the figures derived on loading (KL above
the family's floor, sample figures masked by the no-copy gate), the judged figures with their equivalence margins,
and the one analysis that judges them (`compare`; the statistics live in `vadlib/measure/comparisons.py`).

Each finished study run is one row of `reports/study/runs.csv` (vadlib/studies/seed_study.py fills it).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable

from ..infra.errors import VadlibError
from ..infra.tables import read_table, write_table
from ..measure.comparisons import StudyComparison, against_target, compare_table
from ..measure.gate import NOT_A_COPY
from ..pipeline import artifacts

FAMILIES = ("normal", "uniform", "laplace")
AD = "ad"
TABLE = artifacts.STUDY_TABLE
# The samplers every row also reports by name: the comparison between families is made on one sampler's raw figures
# (the best sampler can differ between runs: at larger beta the mixtures' samples fall under the no-copy gate)
FIXED_SAMPLERS = ("class_gmm", "prior")
FIXED_COLUMNS = tuple(f"{s}_{k}" for s in FIXED_SAMPLERS for k in ("fd", "recognisable", "nn_train_ratio"))
# Imputation (metrics/impute/<variant>.json): the default conditions by short name, and per condition the imputed
# pixels' MSE, the evaluator's accuracy on the completed images, a VAD's central 50% / 90% interval coverage of the
# true missing pixels and the correlation of its per-pixel spread with the error (empty for the AD: no posterior)
IMPUTE_CONDITIONS = {"random_0.5": "random50", "bottom_half": "bottom", "centre_square": "centre"}
IMPUTE_FIGURES = ("mse", "accuracy", "coverage_50", "coverage_90", "spread_corr")
IMPUTE_COLUMNS = tuple(f"impute_{c}_{f}" for c in IMPUTE_CONDITIONS.values() for f in IMPUTE_FIGURES)
METRIC_COLUMNS = ("test_course_loss", "test_mse", "test_kl", "test_nelbo", "test_nelbo_rec", "test_kl_floor",
                  "test_bits_per_dim", "best_fd",
                  "best_recognisable", "best_precision", "best_recall", "best_density", "best_coverage",
                  *FIXED_COLUMNS,
                  "best_held_out_fd", "knn_accuracy", "logreg_accuracy", "logreg_unscaled_accuracy", "active_units",
                  "test_code_log_likelihood", *IMPUTE_COLUMNS)
COLUMNS = ("run", "variant", "family", "beta", "seed", *METRIC_COLUMNS[:7], "best_sampler", *METRIC_COLUMNS[7:],
           "baseline", "experiment", "machine", "cpu", "evaluator_md5", "seconds")
# the figures the study judges, with their titles; lower is better for course_loss, FD, the KLs and bits/dim. Sample
# figures count only where the sampler passes the no-copy gate (`load_table` masks the rest).
HEADLINE = {"test_course_loss": "test course_loss", "class_gmm_fd_gated": "class_gmm FD (gated)",
            "class_gmm_recognisable_gated": "class_gmm recognisable (gated)", "test_kl": "test KL (nats)",
            "test_kl_above_floor": "test KL above the family's floor (nats)", "test_bits_per_dim": "test bits/dim",
            "knn_accuracy": "5-NN probe", "impute_random50_mse": "imputed pixels' MSE, half dropped at random",
            "impute_bottom_mse": "imputed pixels' MSE, bottom half hidden",
            "impute_centre_mse": "imputed pixels' MSE, centre 14x14 hidden",
            "impute_bottom_accuracy": "class kept, bottom half hidden"}
# Calibration: a VAD's central 90% intervals of the missing pixels should hold 90% of the true values
CALIBRATION = {f"impute_{c}_coverage_90": 0.9 for c in IMPUTE_CONDITIONS.values()}
# The one place the equivalence margins are stated (figure -> the largest difference that does not matter; the
# reasons: docs/method.md, "Comparing variants"). A difference inside its margin is called "equivalent".
MARGINS = {"test_course_loss": 0.0005, "test_kl": 1.0, "test_kl_above_floor": 1.0, "test_bits_per_dim": 0.005,
           "class_gmm_fd_gated": 0.5, "class_gmm_recognisable_gated": 0.02, "prior_fd_gated": 0.5,
           "prior_recognisable_gated": 0.02, "knn_accuracy": 0.01,
           **{f"impute_{c}_mse": 0.0005 for c in IMPUTE_CONDITIONS.values()},
           **{f"impute_{c}_accuracy": 0.02 for c in IMPUTE_CONDITIONS.values()},
           **{f"impute_{c}_coverage_90": 0.05 for c in IMPUTE_CONDITIONS.values()}}
NELBO = "negative ELBO, Gaussian pixels at the train MSE (not comparable between variants)"


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
    return with_derived(df)


def with_derived(df):
    """The derived columns: `test_kl_above_floor` (the KL a family could shed, its floor taken off) and per fixed
    sampler `<s>_passes` (its samples pass the no-copy gate) with `<s>_fd_gated` and `<s>_recognisable_gated`, NaN
    where they do not: samples that copy training images are not compared."""
    df = df.copy()
    df["test_kl_above_floor"] = df["test_kl"] - df["test_kl_floor"]
    for s in FIXED_SAMPLERS:
        passes = df[f"{s}_nn_train_ratio"] >= NOT_A_COPY  # NaN (no such sampler) fails
        df[f"{s}_passes"] = passes
        for k in ("fd", "recognisable"):
            df[f"{s}_{k}_gated"] = df[f"{s}_{k}"].where(passes)
    return df


def compare(df) -> StudyComparison:
    """The study's one analysis of the headline figures: per beta the families' seed-blocked contrasts and F-test,
    and the AD against every family cell; Holm over each figure's contrasts, TOST against MARGINS."""
    order = {v: i for i, v in enumerate((AD, *FAMILIES))}  # pairs read B − A in this order: families against the AD
    ranked = df.assign(_rank=df.variant.map(order).fillna(len(order))).sort_values(["_rank", "beta", "seed"],
                                                                                     kind="stable")
    return compare_table(ranked.drop(columns="_rank"), list(HEADLINE), MARGINS, family_by=("beta",), reference=AD)


def calibration(df):
    """Each VAD cell's 90% interval coverage of the imputed pixels against 0.9, over its seeds (`against_target`):
    (verdicts, notes)."""
    return against_target(df[df.variant.isin(FAMILIES)], CALIBRATION, MARGINS)


# -- statistics ----------------------------------------------------------------------------------------------------

def cell_stats(df, metric: str):
    """mean, sample std (ddof 1; NaN for one seed) and n of `metric` over seeds, per (variant, beta)."""
    vals = df.dropna(subset=[metric])
    return vals.groupby(["variant", "beta"])[metric].agg(mean="mean", std="std", n="count").reset_index()
