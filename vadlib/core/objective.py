"""The one objective shared by training and fitting: reconstruction + beta * KL, per image."""
from __future__ import annotations

from torch import Tensor

from .distributions import LatentDistribution
from .models import Decoder


def per_image_loss(decoder: Decoder, dist: LatentDistribution, params: Tensor, x: Tensor, beta: float,
                   observed: Tensor | None = None):
    """Returns (loss, rec, kl) averaged over the batch; rec is the squared error summed over pixels in [0, 1].

    `observed` (imputation): weights shaped like `x`, 1 on the pixels an image shows and 0 on the hidden ones, so rec
    sums over the observed pixels only and no hidden pixel reaches the loss or its gradient; the KL term is unchanged.
    None computes exactly what it always did (bit for bit)."""
    x_rec = decoder(dist.rsample(params))
    err = (x_rec - x).pow(2)
    if observed is not None:
        err = err * observed
    rec = err.flatten(1).sum(1).mean()
    kl = dist.kl(params).mean()
    return rec + beta * kl, rec, kl
