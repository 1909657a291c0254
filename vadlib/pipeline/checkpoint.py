"""Reading pipeline outputs back: `models/<variant>.pt` as a usable decoder, `data/fitted/<variant>.pt` as codes.

Kept apart from `train.py` so the stages that only read a model (fit, evaluate, t-SNE, render) do not depend on the
training code, and DVC does not rerun them when only the training loop changes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..core.distributions import LatentDistribution, get_distribution
from ..core.models import Decoder
from ..infra.errors import CheckpointError, ConfigError
from ..infra.io import load_tensors


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

    @property
    def train_params(self) -> torch.Tensor:
        """The learned per-image parameter rows of the training images (CPU)."""
        return self.checkpoint["latents"]

    @property
    def labels(self) -> torch.Tensor:
        return self.checkpoint["labels"]


def as_trained(checkpoint: dict, device: torch.device, path: str = "checkpoint") -> Trained:
    """A model file's content, read from disk or just trained in memory, as a usable decoder and its family."""
    try:
        dist = get_distribution(checkpoint["distribution"])
    except (KeyError, TypeError, ValueError, ConfigError) as exc:
        raise CheckpointError(f"{path}: names no known latent distribution ({exc})") from None
    return Trained(checkpoint, load_decoder(checkpoint, device, path), dist)


def load_trained(path: str | Path, device: torch.device) -> Trained:
    return as_trained(load_tensors(path), device, str(path))


def load_fitted(path: str | Path) -> dict[str, torch.Tensor]:
    """Fitted parameter rows per split ({"test": ..., "train_refit": ...}) from `data/fitted/<variant>.pt`."""
    fitted = load_tensors(path)
    if not isinstance(fitted, dict) or not isinstance(fitted.get("test"), torch.Tensor):
        raise CheckpointError(f"{path}: holds no fitted test parameters; rerun the `fit` stage")
    return {k: v for k, v in fitted.items() if isinstance(v, torch.Tensor)}


def open_variant(cfg, variant: str, device_name: str | None = None) -> tuple[torch.device, Trained, dict]:
    """Where the stages after `fit` start: the device (params' `device`, or `device_name`; announced), the trained
    model on it and the fitted codes."""
    from ..infra.runtime import announce_device, resolve_device
    from . import artifacts

    cfg.variant(variant)
    name = device_name or cfg.device
    device = resolve_device(name)
    announce_device(name, device)
    return device, load_trained(artifacts.model(variant), device), load_fitted(artifacts.fitted(variant))
