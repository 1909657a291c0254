"""Metrics of one variant: train (learned parameters), train refit and test (fitted, decoder frozen)."""
from __future__ import annotations

import torch

from ..core.distributions import get_distribution
from ..infra.errors import DivergenceError
from .metrics import reconstruction_metrics
from ..core.models import Decoder, decode_images


def split_metrics(decoder: Decoder, dist, params: torch.Tensor, images_uint8: torch.Tensor,
                  batch_size: int) -> dict:
    """Decode each image's distribution mean, the deterministic reconstruction, and score it."""
    out = reconstruction_metrics(images_uint8, decode_images(decoder, dist.mean(params)), batch_size)
    if not dist.is_point:
        out["kl"] = float(dist.kl(params).mean())
    return out


def evaluate_variant(decoder: Decoder, checkpoint: dict, fitted: dict, train_data: dict, test_data: dict,
                     batch_size: int = 64) -> dict:
    dist = get_distribution(checkpoint["distribution"])
    metrics = {
        "variant": checkpoint["variant"],
        "distribution": dist.name,
        "train": split_metrics(decoder, dist, checkpoint["latents"], train_data["images"], batch_size),
    }
    if "train_refit" in fitted:
        metrics["train_refit"] = split_metrics(decoder, dist, fitted["train_refit"], train_data["images"], batch_size)
    metrics["test"] = split_metrics(decoder, dist, fitted["test"], test_data["images"], batch_size)
    for split in ("train", "train_refit", "test"):
        if split in metrics and any(v != v for v in metrics[split].values()):
            raise DivergenceError(f"{checkpoint['variant']}: {split} metrics are NaN; refusing to report them")
    return metrics
