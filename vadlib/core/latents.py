"""The per-image parameter table: how it starts (per class or per image) and how it is stored for optimisation."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .distributions import LatentDistribution

N_CLASSES = 10


def initial_params(dist: LatentDistribution, n: int, dim: int, init: str, scale: float, width: float,
                   gen: torch.Generator, labels: torch.Tensor | None = None) -> torch.Tensor:
    """`class`: one random set per class copied to each of its images; `random`: a fresh set per image."""
    if init == "class":
        if labels is None:
            raise ValueError("class initialisation needs labels")
        return dist.init(N_CLASSES, dim, scale, width, gen)[labels]
    return dist.init(n, dim, scale, width, gen)


def latent_table(init: Tensor, device: torch.device) -> nn.Embedding:
    """Per-image parameter rows; sparse gradients let SparseAdam touch only the rows of each batch."""
    table = nn.Embedding(init.shape[0], init.shape[1], sparse=True).to(device)
    with torch.no_grad():
        table.weight.copy_(init.to(device))
    return table
