"""Where each stage reads and writes: every artifact path of the pipeline, once. dvc.yaml declares the same paths
(tests/pipeline/test_artifacts.py checks every `outs`, `metrics` and `plots` entry against this module)."""
from __future__ import annotations

from pathlib import Path

from ..infra.io import write_json
from ..infra.machine import cpu_model

PREPARED = Path("data/prepared")
DATA_METRICS = Path("metrics/data.json")  # class counts per split
TRAIN_DATA, TEST_DATA = PREPARED / "train.pt", PREPARED / "test.pt"
REFERENCE = Path("data/reference")  # images no variant trains on: the evaluator's training pool and the full test
POOL_DATA, FULL_TEST_DATA = REFERENCE / "pool.pt", REFERENCE / "test_full.pt"
VALIDATION = Path("data/validation")  # images every choice is scored on (never a report): see infra.data.validation_rows
VAL_DATA = VALIDATION / "val.pt"
EVALUATOR = Path("models/evaluator.pt")
EVALUATOR_METRICS = Path("metrics/evaluator.json")
STUDY_TABLE = Path("reports/study/runs.csv")  # the seed study's runs (scripts/study.py seeds), committed
STUDY_ANSWER = Path("reports/study/answer.json")  # its answer for the default params, committed; the report reads it


def model(variant: str) -> Path:
    return Path("models") / f"{variant}.pt"


def resume(variant: str) -> Path:
    """Periodic training checkpoint: outside DVC's outputs, deleted when training completes."""
    return Path("checkpoints") / f"{variant}.pt"


def fitted(variant: str) -> Path:
    return Path("data/fitted") / f"{variant}.pt"


VARIANT_METRICS = Path("metrics/variants")  # only the evaluate stages write here: the report depends on the folder


def metrics(variant: str) -> Path:
    return VARIANT_METRICS / f"{variant}.json"


def per_image(variant: str) -> Path:
    """The evaluate stage's per-test-image table: paired comparisons between variants."""
    return Path("metrics/per_image") / f"{variant}.csv"


def seconds(stage: str, variant: str) -> Path:
    """Wall time and device of one stage run: kept out of every cached output and out of every stage's deps."""
    return Path("metrics/seconds") / stage / f"{variant}.json"


def write_seconds(stage: str, name: str, seconds_: float, device: str) -> None:
    """One stage run's wall time, device and CPU model, in metrics/seconds/ (no cached output depends on it)."""
    write_json(seconds(stage, name), {f"{stage}_seconds": round(seconds_, 2), "device": device, "cpu": cpu_model()})


def train_curve(variant: str) -> Path:
    return Path("plots/train") / f"{variant}.csv"


def fit_curve(variant: str) -> Path:
    return Path("plots/fit") / f"{variant}.csv"


def impute_metrics(variant: str) -> Path:
    """The impute stage's scores of one variant; `IMPUTE_BASELINES` holds the baselines' (no variant of that name)."""
    return Path("metrics/impute") / f"{variant}.json"


def impute_curve(variant: str) -> Path:
    """Missing-pixel scores against the missing ratio: one row per `impute.ratios` entry."""
    return Path("plots/impute") / f"{variant}.csv"


IMPUTE_BASELINES = impute_metrics("baselines")  # the impute_baselines stage: k-NN and train-mean imputation
IMPUTE_BASELINE_CURVE = impute_curve("baselines")


def tsne_csv(variant: str, split: str) -> Path:
    return Path("plots/tsne") / f"{variant}_{split}.csv"


def tsne_png(variant: str) -> Path:
    return Path("plots/images") / variant / "tsne.png"


def grid_png(variant: str, name: str) -> Path:
    return Path("plots/images") / variant / f"{name}.png"


IMAGES = Path("plots/images")  # every PNG of the pipeline lies below: one `dvc plots` entry shows them all


def images(variant: str) -> Path:
    """One variant's figures (the render and tsne stages write here)."""
    return IMAGES / variant


def samples_dir(variant: str) -> Path:
    """The render stage's sample grids, one per sampler (`grid_png(variant, f"samples/{sampler}")`): one output."""
    return images(variant) / "samples"


REPORT = Path("reports/report.md")
COMPARISON_PNG = Path("plots/images/comparison.png")

# The `compare` stage's mirror of one variant (params' `compare`), for `dvc metrics diff <A> <B>` across experiments
SELECTED_METRICS = Path("metrics/selected.json")
SELECTED_TRAIN, SELECTED_FIT = Path("plots/selected/train.csv"), Path("plots/selected/fit.csv")
SELECTED_IMPUTE = Path("plots/selected/impute.csv")  # the missing-pixel curve of the selected variant
