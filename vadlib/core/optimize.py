"""The minibatch loop shared by training (decoder + latents) and fitting (latents only, decoder frozen).

Images and the latent table live on the device; each step gathers a shuffled batch by index, so there is
no Dataset/DataLoader in the hot loop. Per-step losses stay on the device and are checked once per epoch,
which keeps CUDA free of per-step syncs while still naming the exact step where a loss went non-finite.
Under torch.distributed each rank runs this loop on its own shard of images (`world`), with a DDP-wrapped decoder
as `net`; the per-step losses are summed across ranks once per epoch, so every rank logs (and stops on) the same.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor, nn

from .distributions import LatentDistribution
from .epochs import Epochs
from ..infra.distributed import SINGLE, World
from ..infra.runtime import autocast
from .models import Decoder
from .objective import per_image_loss

HISTORY_KEYS = ("loss", "rec", "kl", "seconds")


def lr_lambda(total_steps: int, schedule: str, warmup_steps: int = 0) -> Callable[[int], float]:
    """Linear warm-up, then constant or cosine decay to 1% of the base rate by the last step."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule == "constant":
            return 1.0
        t = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t))

    return factor


@dataclass
class Loop:
    """One latent optimisation problem (training: decoder + per-image rows; fitting: rows only, decoder frozen):
    what is optimised, by which optimisers, over how many epochs; `Epochs` runs it."""

    decoder: Decoder
    dist: LatentDistribution
    table: nn.Embedding
    images: Tensor  # float [N, 1, 28, 28] in [0, 1], on the device
    beta: float
    epochs: int
    batch_size: int
    optimizers: list
    schedulers: list
    perm_generator: torch.Generator
    train_decoder: bool
    label: str  # e.g. "train/normal", used in progress bars and error messages
    history: dict = field(default_factory=lambda: {k: [] for k in HISTORY_KEYS})
    epoch: int = 0  # epochs completed
    net: nn.Module | None = None  # what runs the forward pass (a DDP wrapper of `decoder`); None: the decoder
    world: World = SINGLE
    steps_per_epoch: int | None = None  # equal on every rank; None: ceil(images / batch_size)
    n_total: int | None = None  # images across all ranks, for epoch means; None: this loop's images
    observed: Tensor | None = None  # imputation: [N, 1, 28, 28] 1/0 per observed/hidden pixel, rows like `images`

    def step(self, idx: Tensor) -> Tensor:
        """One step on the rows `idx`: (loss, reconstruction, KL) summed over the batch."""
        net = self.net if self.net is not None else self.decoder
        with autocast(self.images.device):  # bf16 only with `precision: bf16`
            observed = self.observed[idx] if self.observed is not None else None
            loss, rec, kl = per_image_loss(net, self.dist, self.table(idx), self.images[idx], self.beta, observed)
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in self.optimizers:
            opt.step()
        for sched in self.schedulers:
            sched.step()
        return torch.stack([loss.detach(), rec.detach(), kl.detach()]) * idx.numel()

    def run(self, on_epoch_end: Callable[["Loop"], None] | None = None, progress: bool = True) -> dict:
        self.decoder.train(self.train_decoder)
        self.decoder.requires_grad_(self.train_decoder)
        epochs = Epochs(self.step, self.images.shape[0], self.epochs, self.batch_size, self.perm_generator,
                        self.images.device, self.label,
                        "Lower the learning rates (train.lr_decoder, train.lr_latent, fit.lr) or beta.",
                        HISTORY_KEYS[:3], self.history, self.epoch, self.world, self.steps_per_epoch, self.n_total)

        def sync(e: Epochs) -> None:
            self.epoch = e.epoch
            if on_epoch_end is not None:
                on_epoch_end(self)

        epochs.run(sync, progress, lambda h: {"loss": f"{h['loss'][-1]:.3f}", "rec": f"{h['rec'][-1]:.3f}"})
        self.decoder.requires_grad_(True)
        return self.history
