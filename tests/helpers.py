"""Tiny configurations and synthetic data for fast unit tests."""
import torch

from vadlib.infra.config import parse_params
from vadlib.infra.data import CLASS_NAMES

VARIANTS = {
    "ad": {"distribution": "ad", "beta": 1e-4, "init": "class"},
    "normal": {"distribution": "normal", "beta": 1e-3, "init": "class"},
    "uniform": {"distribution": "uniform", "beta": 1e-3, "init": "class"},
    "laplace": {"distribution": "laplace", "beta": 1e-3, "init": "class"},
}


def tiny_config(**sections):
    raw = {
        "seed": 0,
        "device": "cpu",
        "model": {"latent_dim": 8, "channels": [16, 8]},
        "train": {"epochs": 3, "batch_size": 8, "lr_decoder": 3e-3, "lr_latent": 3e-2, "checkpoint_every": 1},
        "fit": {"epochs": 3, "batch_size": 8, "lr": 0.05},
        "variants": VARIANTS,
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) and key != "variants" else value
    return parse_params(raw)


def tiny_data(n=20, seed=0):
    """Blurry blobs per class: learnable in a few hundred steps, unlike pure noise."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    centres = torch.rand(10, 2, generator=gen) * 16 + 6
    images = torch.stack([torch.exp(-((yy - centres[c, 0]) ** 2 + (xx - centres[c, 1]) ** 2) / 30) for c in labels])
    images = (images * 255).round().to(torch.uint8)
    return {"images": images, "labels": labels, "indices": torch.arange(n),
            "class_names": list(CLASS_NAMES)}
