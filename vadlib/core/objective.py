"""The one objective shared by training and fitting: reconstruction + beta * KL, per image."""
from __future__ import annotations

from torch import Tensor

from .distributions import LatentDistribution
from .models import Decoder


def per_image_loss(decoder: Decoder, dist: LatentDistribution, params: Tensor, x: Tensor, beta: float):
    """Returns (loss, rec, kl) averaged over the batch; rec is the squared error summed over pixels in [0, 1]."""
    x_rec = decoder(dist.rsample(params))
    rec = (x_rec - x).pow(2).flatten(1).sum(1).mean()
    kl = dist.kl(params).mean()
    return rec + beta * kl, rec, kl
