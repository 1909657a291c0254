"""The imputation baselines (`impute_baselines`): what any model's completion must beat, on the masks every
`impute@<variant>` stage uses (the masks derive from the seed alone, vadlib/measure/imputation.py).

- `knn`: the `impute.knn_k` train images nearest on each test image's observed pixels, averaged pixel by pixel;
- `mean`: the per-pixel mean of the train images.

Both read the train images (what every decoder learned from) and no model, so they are a stage of their own, run once:
computed inside each `impute@<variant>` they would be computed once per variant, and computed inside one of them
(say `impute@ad`) they would rerun whenever that variant changes and vanish with it from a params file without it.
"""
from __future__ import annotations

import time

from ..core.images import to_unit
from ..infra.config import Config
from ..measure import imputation as imp

METHODS = ("knn", "mean")
CURVE_COLUMNS = ("ratio", *(f"{m}_{s}" for m in METHODS for s in ("mse_missing", "course_loss_missing",
                                                                   "accuracy")))


def impute_baselines(train_data: dict, test_data: dict, evaluator, cfg: Config) -> tuple[dict, list[list]]:
    """(metrics, curve rows per random ratio following CURVE_COLUMNS) of both baselines on every condition."""
    ic = cfg.impute
    n = min(ic.n_images, test_data["images"].shape[0])
    x01, labels = to_unit(test_data["images"][:n]), test_data["labels"][:n]
    train01 = to_unit(train_data["images"])
    metrics = {"n_images": n, "knn_k": ic.knn_k, "accuracy_true": imp.accuracy(evaluator, x01, labels),
               "conditions": {}}
    curve = []
    for key, cond in imp.conditions(ic.ratios, ic.masks, n, cfg.seed).items():
        missing = cond["missing"]
        preds = {"knn": imp.knn_fill(train01, x01, missing, ic.knn_k), "mean": imp.mean_fill(train01, n)}
        row = imp.describe_condition(cond)
        for name in METHODS:
            completed = imp.complete(x01, preds[name], missing)
            row[name] = {**imp.imputation_scores(x01, preds[name], missing),
                         "accuracy": imp.accuracy(evaluator, completed, labels)}
        metrics["conditions"][key] = row
        if cond["ratio"] is not None:
            curve.append([cond["ratio"], *(v for m in METHODS for v in (
                row[m]["missing"]["mse"], row[m]["missing"]["course_loss"], row[m]["accuracy"]))])
    return metrics, curve


def stage(cfg: Config) -> str:
    """The `impute_baselines` stage: metrics/impute/baselines.json, its curve (plots/impute/baselines.csv) and the
    wall time (metrics/seconds/impute/baselines.json)."""
    from ..infra.data import load_prepared
    from ..infra.io import write_csv, write_json
    from ..infra.runtime import announce_device, describe, resolve_device
    from ..measure.evaluator import load_evaluator
    from . import artifacts

    start = time.perf_counter()
    device = resolve_device(cfg.device)
    announce_device(cfg.device, device)
    evaluator, _ = load_evaluator(artifacts.EVALUATOR, device)
    metrics, curve = impute_baselines(load_prepared(artifacts.TRAIN_DATA), load_prepared(artifacts.TEST_DATA),
                                      evaluator, cfg)
    write_json(artifacts.IMPUTE_BASELINES, metrics)
    write_csv(artifacts.IMPUTE_BASELINE_CURVE, CURVE_COLUMNS, curve)
    artifacts.write_seconds("impute", "baselines", time.perf_counter() - start, describe(device))
    return "impute_baselines: " + ", ".join(
        f"{key} k-NN {row['knn']['missing']['mse']:.4f} / mean {row['mean']['missing']['mse']:.4f}"
        for key, row in metrics["conditions"].items() if row["knn"]["missing"]["mse"] is not None)
