"""Reading a trained variant back: one place that turns `models/<variant>.pt` into a usable decoder.

Kept apart from `train.py` so the stages that only read a model (fit, evaluate, render) do not depend on the
training code, and DVC does not rerun them when only the training loop changes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .distributions import LatentDistribution, get_distribution
from .errors import CheckpointError
from .io import load_tensors
from .models import Decoder


def load_decoder(checkpoint: dict, device: torch.device, path: str = "checkpoint") -> Decoder:
    """Rebuild the decoder a checkpoint was trained with, with a clear error on any mismatch."""
    try:
        arch = checkpoint["architecture"]
        decoder = Decoder(arch["latent_dim"], tuple(arch["channels"]))
        decoder.load_state_dict(checkpoint["decoder"])
    except (KeyError, TypeError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: does not hold a vadlib decoder matching its architecture ({exc})") from None
    return decoder.to(device).eval()


@dataclass
class Trained:
    checkpoint: dict
    decoder: Decoder  # in eval mode, on the requested device
    dist: LatentDistribution


def load_trained(path: str | Path, device: torch.device) -> Trained:
    checkpoint = load_tensors(path)
    try:
        dist = get_distribution(checkpoint["distribution"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: names no known latent distribution ({exc})") from None
    return Trained(checkpoint, load_decoder(checkpoint, device, str(path)), dist)
