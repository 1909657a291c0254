"""Reconstruction metrics: the course's measure, reproduced exactly, plus scale-free ones."""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ..core.images import N_PIXELS, to_unit
from .course import COURSE_BATCH


def course_loss(x: Tensor, x_rec: Tensor, batch_size: int = COURSE_BATCH) -> float:
    """The course's reconstruction loss: 0-255 scale, consecutive batches of 64, per batch
    ||x - x_rec||_F / (B * 784), then the plain mean over batches (a short last batch counts as one)."""
    x = x.reshape(x.shape[0], -1).double()
    x_rec = x_rec.reshape(x_rec.shape[0], -1).double()
    per_batch = [
        torch.linalg.norm(a - b) / (a.shape[0] * a.shape[1])
        for a, b in zip(x.split(batch_size), x_rec.split(batch_size))
    ]
    return float(torch.stack(per_batch).mean())


def course_loss_from_squared_errors(squared: np.ndarray, batch_size: int = COURSE_BATCH) -> np.ndarray:
    """`course_loss` from per-image squared errors on [0, 1] (rows of `squared` [..., n] are image sets in order):
    a batch's ||x - x_rec||_F on 0-255 is 255 sqrt(sum of its images' squared errors), divided by B x 784, then the
    plain mean over consecutive batches (a short last batch counts as one), as `course_loss` computes it from images."""
    squared = np.asarray(squared, dtype=float)
    n = squared.shape[-1]
    starts = np.arange(0, n, batch_size)
    sizes = np.minimum(starts + batch_size, n) - starts
    per_batch = 255.0 * np.sqrt(np.add.reduceat(squared, starts, axis=-1)) / (sizes * N_PIXELS)
    return per_batch.mean(axis=-1)


def reconstruction_metrics(images_uint8: Tensor, recon01: Tensor, batch_size: int = COURSE_BATCH) -> dict:
    """course_loss on 0-255, and per-pixel MSE and PSNR on [0, 1]."""
    x01 = to_unit(images_uint8, torch.float64).reshape(images_uint8.shape[0], -1)
    r01 = recon01.reshape(recon01.shape[0], -1).double()
    mse = float((x01 - r01).pow(2).mean())
    return {
        "course_loss": course_loss(x01 * 255.0, r01 * 255.0, batch_size),
        "mse": mse,
        "psnr": 10 * math.log10(1.0 / mse) if mse > 0 else float("inf"),
    }


def per_image_squared_error(images_uint8: Tensor, recon01: Tensor) -> Tensor:
    """Squared error summed over the pixels of each image, on [0, 1] (float64 [N]); its mean / 784 is `mse`."""
    x01 = to_unit(images_uint8, torch.float64).reshape(images_uint8.shape[0], -1)
    return (x01 - recon01.reshape(recon01.shape[0], -1).double()).pow(2).sum(1)


def gaussian_nll(squared_error: Tensor, n_pixels: int, sigma2: float) -> Tensor:
    """-ln N(x; x_hat, sigma2 I) over `n_pixels` pixels, given the summed squared error ||x - x_hat||^2 (nats)."""
    if not sigma2 > 0:
        raise ValueError(f"sigma2: got {sigma2!r}, expected a positive pixel variance")
    return 0.5 * n_pixels * math.log(2 * math.pi * sigma2) + squared_error / (2 * sigma2)


def negative_elbo(decoder, dist, params: Tensor, images_uint8: Tensor, sigma2: float, n_draws: int,
                  seed: int) -> dict[str, Tensor]:
    """Per-image negative ELBO (nats) of a Gaussian pixel likelihood with variance `sigma2` on [0, 1] pixels:

        -ELBO(x) = E_q[-ln N(x; f(z), sigma2 I)] + KL(q(z | x) || N(0, I)),

    the expectation a mean over `n_draws` reparametrised draws of each image's q (torch's global RNG, seeded here and
    restored afterwards, so nothing else drawn later shifts); decoded as every score decodes (BN in inference mode,
    clamped to [0, 1]). Returns float64 [N] tensors `rec_nll`, `kl` and `nelbo`; a point-mass code (the AD) has no
    KL to a density, so it gets `rec_nll` only (its one "draw" is the code).
    """
    from ..core.models import decode_images

    if n_draws < 1:
        raise ValueError(f"n_draws: got {n_draws!r}, expected an integer >= 1")
    n_pixels = images_uint8[0].numel()
    draws = 1 if dist.is_point else n_draws
    rec = torch.zeros(images_uint8.shape[0], dtype=torch.float64)
    cuda = [params.device.index or 0] if params.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda), torch.no_grad():
        torch.manual_seed(seed)
        for _ in range(draws):
            recon = decode_images(decoder, dist.rsample(params.detach()))
            rec += gaussian_nll(per_image_squared_error(images_uint8, recon), n_pixels, sigma2)
    out = {"rec_nll": rec / draws}
    if not dist.is_point:
        out["kl"] = dist.kl(params.detach()).double()
        out["nelbo"] = out["rec_nll"] + out["kl"]
    return out
