"""The cheap end-to-end check behind tuning and the benchmark: train one variant, fit test images, score both.

Skips what only the report needs (train refit, t-SNE, figures), so one setting costs minutes, not a full run.
"""
from __future__ import annotations

import time

import torch

from .checkpoint import load_decoder
from ..infra.config import Config
from ..core.distributions import get_distribution
from .fit import fit_latents
from .metrics import reconstruction_metrics
from ..core.models import decode_images
from .train import train_variant


def train_fit_score(cfg: Config, variant: str, train_data: dict, test_images: torch.Tensor,
                    device: torch.device) -> dict:
    """course_loss of the learned train codes and of the fitted test codes; `seconds` covers train + fit."""
    start = time.perf_counter()
    result, _ = train_variant(cfg, variant, train_data, device, progress=False)
    decoder = load_decoder(result, device)
    vcfg = cfg.variant(variant)
    params, _ = fit_latents(decoder, vcfg, cfg.fit, test_images, cfg.seed, f"fit/test/{variant}", progress=False,
                            train_params=result["latents"])
    seconds = time.perf_counter() - start
    dist = get_distribution(vcfg.distribution)

    def score(images, codes):
        recon = decode_images(decoder, dist.mean(codes))
        return reconstruction_metrics(images, recon, cfg.evaluate.batch_size)["course_loss"]

    return {"test_course_loss": score(test_images, params),
            "train_course_loss": score(train_data["images"], result["latents"]), "seconds": seconds}
