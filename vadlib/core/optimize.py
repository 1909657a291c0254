"""The minibatch loop shared by training (decoder + latents) and fitting (latents only, decoder frozen).

Images and the latent table live on the device; each step gathers a shuffled batch by index, so there is
no Dataset/DataLoader in the hot loop. Per-step losses stay on the device and are checked once per epoch,
which keeps CUDA free of per-step syncs while still naming the exact step where a loss went non-finite.
Under torch.distributed each rank runs this loop on its own shard of images (`world`), with a DDP-wrapped decoder
as `net`; the per-step losses are summed across ranks once per epoch, so every rank logs (and stops on) the same.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .distributions import LatentDistribution
from ..infra.distributed import SINGLE, World, all_sum
from ..infra.errors import raise_if_diverged
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
    """One optimisation problem: what is optimised, by which optimisers, over how many epochs."""

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

    def batches(self, perm: Tensor) -> tuple[Tensor, ...]:
        """Index batches of one epoch; a rank whose shard is one image short still takes the common step count."""
        chunks = perm.split(self.batch_size)
        if self.steps_per_epoch is not None and len(chunks) != self.steps_per_epoch:
            chunks = perm.tensor_split(self.steps_per_epoch)
        return chunks

    def run(self, on_epoch_end: Callable[["Loop"], None] | None = None, progress: bool = True) -> dict:
        self.decoder.train(self.train_decoder)
        self.decoder.requires_grad_(self.train_decoder)
        n = self.images.shape[0]
        n_total = self.n_total or n
        net = self.net if self.net is not None else self.decoder
        device = self.images.device
        bar = tqdm(total=self.epochs, initial=self.epoch, desc=self.label, disable=not progress, dynamic_ncols=True)
        while self.epoch < self.epochs:
            start = time.perf_counter()
            perm = torch.randperm(n, generator=self.perm_generator).to(device)
            stats = []
            for idx in self.batches(perm):
                with autocast(device):  # bf16 only with `precision: bf16`
                    loss, rec, kl = per_image_loss(net, self.dist, self.table(idx), self.images[idx], self.beta)
                for opt in self.optimizers:
                    opt.zero_grad(set_to_none=True)
                loss.backward()
                for opt in self.optimizers:
                    opt.step()
                for sched in self.schedulers:
                    sched.step()
                stats.append(torch.stack([loss.detach(), rec.detach(), kl.detach()]) * idx.numel())
            totals = all_sum(torch.stack(stats), self.world)
            self._check_finite(totals[:, 0])
            means = (totals.sum(0) / n_total).tolist()
            self.epoch += 1
            for key, value in zip(HISTORY_KEYS, means + [time.perf_counter() - start]):
                self.history[key].append(value)
            bar.update(1)
            bar.set_postfix(loss=f"{means[0]:.3f}", rec=f"{means[1]:.3f}")
            if on_epoch_end is not None:
                on_epoch_end(self)
        bar.close()
        self.decoder.requires_grad_(True)
        return self.history

    def _check_finite(self, step_losses: Tensor) -> None:
        raise_if_diverged(step_losses, self.label, self.epoch + 1, self.history["loss"],
                          "Lower the learning rates (train.lr_decoder, train.lr_latent, fit.lr) or beta.",
                          per_step=self.batch_size)
