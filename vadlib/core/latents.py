"""The per-image parameter table: how it starts (per class or per image) and how it is stored for optimisation."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .distributions import LatentDistribution
from .images import N_CLASSES


def initial_params(dist: LatentDistribution, n: int, dim: int, init: str, scale: float, width: float,
                   gen: torch.Generator, labels: torch.Tensor | None = None) -> torch.Tensor:
    """`class`: one random set per class copied to each of its images; `random`: a fresh set per image."""
    if init == "class":
        if labels is None:
            raise ValueError("class initialisation needs labels")
        return dist.init(N_CLASSES, dim, scale, width, gen)[labels]
    return dist.init(n, dim, scale, width, gen)


def latent_table(init: Tensor, device: torch.device, sparse: bool = True) -> nn.Embedding:
    """Per-image parameter rows; sparse gradients let SparseAdam touch only the rows of each batch."""
    table = nn.Embedding(init.shape[0], init.shape[1], sparse=sparse).to(device)
    with torch.no_grad():
        table.weight.copy_(init.to(device))
    return table


def latent_optimizer(name: str, init: Tensor, device: torch.device, lr: float):
    """(the rows' table, its optimiser): `sparse_adam` (the default: only a batch's rows and moments change) or
    `adam` (dense: every row's moments decay each step and rows move between their batches, as in the original
    course recipe)."""
    table = latent_table(init, device, sparse=name == "sparse_adam")
    opt = torch.optim.SparseAdam if name == "sparse_adam" else torch.optim.Adam
    return table, opt(table.parameters(), lr=lr)


@torch.no_grad()
def nearest_start(decoded_train: Tensor, train_params: Tensor, images01: Tensor, exclude_self: bool = False,
                  chunk: int = 1024, observed: Tensor | None = None) -> Tensor:
    """Warm start for fitting: each new image starts from the train row whose decoded mean is nearest in pixel space.

    decoded_train: [N, 1, 28, 28] decodes of the train rows' means, on the images' device. Uses only the train rows
    and the image being fitted (no labels, no other new image), so every fit stays independent of its batch mates.
    `exclude_self`: the images are the train images themselves (a refit), so row i may not start image i.
    `observed` (imputation): 1/0 weights shaped like `images01`; the distance is then taken over each image's observed
    pixels only (float64, so no hidden pixel's value can move it).
    """
    flat = decoded_train.flatten(1)
    weights = observed.flatten(1) if observed is not None else None
    rows = []
    for start, x in zip(range(0, len(images01), chunk), images01.split(chunk)):
        if weights is None:
            dist = torch.cdist(x.flatten(1), flat)
        else:
            dist = masked_sq_distances(x.flatten(1), weights[start:start + len(x)], flat)
        if exclude_self:
            own = torch.arange(start, start + len(x), device=dist.device)
            dist[torch.arange(len(x), device=dist.device), own] = float("inf")
        rows.append(dist.argmin(dim=1))
    rows = torch.cat(rows)
    return train_params[rows.cpu()].clone()


def masked_sq_distances(x: Tensor, weights: Tensor, others: Tensor) -> Tensor:
    """[n, m] squared Euclidean distances between the rows of `x` [n, P] and `others` [m, P] over the pixels each row
    of `x` observes (`weights` [n, P], 1 observed / 0 hidden), in float64: sum_p w_ip (x_ip - o_jp)^2."""
    x, w, o = x.double(), weights.double(), others.double()
    xw = x * w  # hidden values become exact zeros before anything else reads them
    return ((xw * x).sum(1, keepdim=True) - 2 * xw @ o.T + w @ (o * o).T).clamp_min_(0)
