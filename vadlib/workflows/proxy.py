"""The cheap end-to-end check behind tuning and the benchmark: train one variant, fit test images, score both.

Skips what only the report needs (train refit, t-SNE, figures), so one setting costs minutes, not a full run.
"""
from __future__ import annotations

import time

import torch

from .checkpoint import load_decoder
from ..infra.config import Config, FitConfig
from ..core.distributions import get_distribution
from .fit import fit_latents
from .metrics import reconstruction_metrics
from ..core.models import decode_images
from .train import train_variant


def fit_and_score(model: dict, cfg: Config, variant: str, train_data: dict, test_images: torch.Tensor,
                  device: torch.device, fit: FitConfig | None = None) -> dict:
    """Fit `test_images` against a trained model file's decoder (with `fit`, default cfg.fit) and score both splits.

    Returns test/train course_loss, the fit's wall seconds and its per-epoch loss and seconds (for time-to-quality).
    """
    fit = fit or cfg.fit
    decoder = load_decoder(model, device)
    vcfg = cfg.variant(variant)
    params, history = fit_latents(decoder, vcfg, fit, test_images, cfg.seed, f"fit/test/{variant}", progress=False,
                                  train_params=model["latents"])
    dist = get_distribution(vcfg.distribution)

    def score(images, codes):
        recon = decode_images(decoder, dist.mean(codes))
        return reconstruction_metrics(images, recon, cfg.evaluate.batch_size)["course_loss"]

    return {"test_course_loss": score(test_images, params),
            "train_course_loss": score(train_data["images"], model["latents"]),
            "fit_seconds": sum(history["seconds"]), "fit_loss_curve": history["loss"],
            "fit_seconds_curve": history["seconds"]}


def train_fit_score(cfg: Config, variant: str, train_data: dict, test_images: torch.Tensor,
                    device: torch.device) -> dict:
    """course_loss of the learned train codes and of the fitted test codes; `seconds` covers train + fit."""
    start = time.perf_counter()
    model, _ = train_variant(cfg, variant, train_data, device, progress=False)
    scores = fit_and_score(model, cfg, variant, train_data, test_images, device)
    return {"test_course_loss": scores["test_course_loss"], "train_course_loss": scores["train_course_loss"],
            "seconds": time.perf_counter() - start}
