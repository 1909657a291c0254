"""Reconstruction metrics: the course's measure, reproduced exactly, plus scale-free ones."""
from __future__ import annotations

import math

import torch
from torch import Tensor


def course_loss(x: Tensor, x_rec: Tensor, batch_size: int = 64) -> float:
    """The course's reconstruction loss: 0-255 scale, consecutive batches of 64, per batch
    ||x - x_rec||_F / (B * 784), then the plain mean over batches (a short last batch counts as one)."""
    x = x.reshape(x.shape[0], -1).double()
    x_rec = x_rec.reshape(x_rec.shape[0], -1).double()
    per_batch = [
        torch.linalg.norm(a - b) / (a.shape[0] * a.shape[1])
        for a, b in zip(x.split(batch_size), x_rec.split(batch_size))
    ]
    return float(torch.stack(per_batch).mean())


def reconstruction_metrics(images_uint8: Tensor, recon01: Tensor, batch_size: int = 64) -> dict:
    """course_loss on 0-255, and per-pixel MSE and PSNR on [0, 1]."""
    x01 = images_uint8.reshape(images_uint8.shape[0], -1).double() / 255.0
    r01 = recon01.reshape(recon01.shape[0], -1).double()
    mse = float((x01 - r01).pow(2).mean())
    return {
        "course_loss": course_loss(x01 * 255.0, r01 * 255.0, batch_size),
        "mse": mse,
        "psnr": 10 * math.log10(1.0 / mse) if mse > 0 else float("inf"),
    }
