"""Missing-pixel imputation by one variant (`impute@<variant>`): the auto-decoder's own task. For the first
`impute.n_images` test images and each condition of `impute` (random dropout at each ratio, each structured mask;
vadlib/measure/imputation.py), fresh codes are fitted on the observed pixels only with `fit`'s recipe (cfg.fit: start,
lr, epochs, optimiser; the decoder frozen), decoded, and the decode fills the missing pixels. Scored: the completion
on the missing pixels and on the whole image, the decode on the observed ones, the evaluator's accuracy on the
completed images, the decode of `fit`'s own codes (which saw every pixel) on the same missing pixels (`full_view`),
and for a VAD the uncertainty of `impute.samples` completions drawn from each image's fitted posterior (the AD has no
posterior: its uncertainty fields are null).

Every condition fits with `fit`'s own random streams (purpose `fit/test/<variant>`: the same shuffles and the same
reparametrisation noise), so conditions differ by their masks only, and a mask that hides nothing on the whole test
subset gives `fit`'s codes bit for bit. The baselines do not depend on the variant: they are their own stage
(`impute_baselines`), scored on the same masks (the masks derive from the seed alone).
"""
from __future__ import annotations

import time

import numpy as np
import torch

from ..core.images import SIDE, to_unit
from ..core.models import decode_images
from ..infra.config import Config
from ..infra.runtime import derive_seed
from ..measure import imputation as imp
from .fit import fit_latents

GRID_IMAGES = 8  # images per row of the figure
GRID_DRAWS = 3  # a VAD's completions shown per condition
MASKED_GREY = 0.5  # what a missing pixel looks like in the figure's masked-input row
CURVE_COLUMNS = ("ratio", "mse_missing", "psnr_missing", "course_loss_missing", "accuracy", "coverage_50",
                 "coverage_90", "correlation")


def fit_observed(trained, cfg: Config, variant: str, images_uint8: torch.Tensor, observed: torch.Tensor,
                 progress: bool = True) -> tuple[torch.Tensor, dict]:
    """Codes for `images_uint8` from their observed pixels (bool [N, 28, 28]): `fit`'s recipe and random streams."""
    return fit_latents(trained.decoder, cfg.variant(variant), cfg.fit, images_uint8, cfg.seed, f"fit/test/{variant}",
                       progress, trained.train_params, where=f"variants.{variant}.distribution", observed=observed)


@torch.no_grad()
def draw_completions(trained, params: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """[k, N, 1, 28, 28]: decodes of k reparametrised draws from each row's distribution, on torch's global RNG seeded
    here and restored afterwards (nothing drawn later shifts)."""
    cuda = [params.device.index or 0] if params.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        return torch.stack([decode_images(trained.decoder, trained.dist.rsample(params)) for _ in range(k)])


def impute_variant(trained, test_data: dict, fitted_test: torch.Tensor, evaluator, cfg: Config, variant: str,
                   progress: bool = True) -> tuple[dict, list[list], np.ndarray, list[str]]:
    """(metrics, curve rows per random ratio following CURVE_COLUMNS, figure [rows, cols, 28, 28], row labels)."""
    ic = cfg.impute
    n = min(ic.n_images, test_data["images"].shape[0])
    images, labels = test_data["images"][:n], test_data["labels"][:n]
    x01 = to_unit(images)
    dist = trained.dist
    full_view = decode_images(trained.decoder, dist.mean(fitted_test[:n]))
    metrics = {"variant": variant, "distribution": dist.name, "n_images": n,
               "samples": None if dist.is_point else ic.samples, "accuracy_true": imp.accuracy(evaluator, x01, labels),
               "conditions": {}}
    curve, grid, row_labels = [], [], []
    cols = min(GRID_IMAGES, n)
    for key, cond in imp.conditions(ic.ratios, ic.masks, n, cfg.seed).items():
        missing = cond["missing"]
        params, history = fit_observed(trained, cfg, variant, images, ~missing, progress)
        recon = decode_images(trained.decoder, dist.mean(params))
        completed = imp.complete(x01, recon, missing)
        row = {**imp.describe_condition(cond), **imp.imputation_scores(x01, recon, missing),
               "accuracy": imp.accuracy(evaluator, completed, labels),
               "full_view": imp.scores(x01, full_view, missing), "fit_loss": history["loss"][-1]}
        draws = None
        if dist.is_point:
            row["uncertainty"] = dict(imp.NO_UNCERTAINTY)
        else:
            seed = derive_seed(cfg.seed, f"impute/draws/{variant}/{key}")
            draws = draw_completions(trained, params, ic.samples, seed)
            row["uncertainty"] = imp.uncertainty(x01, draws, missing)
        metrics["conditions"][key] = row
        if cond["ratio"] is not None:
            u = row["uncertainty"]
            curve.append([cond["ratio"], row["missing"]["mse"], row["missing"]["psnr"], row["missing"]["course_loss"],
                          row["accuracy"], u["coverage_50"], u["coverage_90"], u["correlation"]])
        shown = missing[:cols].view(cols, 1, SIDE, SIDE)
        grid.append(torch.where(shown, torch.full_like(x01[:cols], MASKED_GREY), x01[:cols]))
        grid.append(completed[:cols])
        row_labels += [f"{key}: masked", "completion"]
        if draws is not None:
            for d in range(min(GRID_DRAWS, ic.samples)):
                grid.append(imp.complete(x01[:cols], draws[d, :cols], missing[:cols]))
                row_labels.append(f"draw {d + 1}")
        grid.append(x01[:cols])
        row_labels.append("truth")
    figure = torch.stack([g.reshape(cols, SIDE, SIDE).float() for g in grid]).numpy() if grid else np.zeros(
        (0, cols, SIDE, SIDE), np.float32)
    return metrics, curve, figure, row_labels


def stage(cfg: Config, variant: str) -> str:
    """The `impute@<variant>` stage: metrics/impute/<variant>.json, the curve over missing ratios
    (plots/impute/<variant>.csv), the figure (plots/images/<variant>/imputation.png) and the wall time."""
    from ..infra.data import load_prepared
    from ..infra.figures import image_grid, save_figure
    from ..infra.io import write_csv, write_json
    from ..infra.runtime import describe, set_precision
    from ..measure.evaluator import load_evaluator
    from . import artifacts
    from .checkpoint import open_variant

    start = time.perf_counter()
    device, trained, fitted = open_variant(cfg, variant)
    set_precision(cfg.precision)  # the fits run the fitting loop
    evaluator, _ = load_evaluator(artifacts.EVALUATOR, device)
    metrics, curve, figure, labels = impute_variant(trained, load_prepared(artifacts.TEST_DATA), fitted["test"],
                                                    evaluator, cfg, variant)
    write_json(artifacts.impute_metrics(variant), metrics)
    write_csv(artifacts.impute_curve(variant), CURVE_COLUMNS, curve)
    title = (f"{variant}: per condition, the masked input (missing pixels grey), the completion"
             + ("" if trained.dist.is_point else f", {min(GRID_DRAWS, cfg.impute.samples)} posterior draws")
             + " and the truth")
    save_figure(image_grid(figure, title, labels), artifacts.grid_png(variant, "imputation"))
    artifacts.write_seconds("impute", variant, time.perf_counter() - start, describe(device))
    return f"impute/{variant}: " + ", ".join(
        f"{key} missing-pixel MSE {row['missing']['mse']:.4f}" if row["missing"]["mse"] is not None else f"{key} -"
        for key, row in metrics["conditions"].items())
