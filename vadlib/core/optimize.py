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
class Epochs:
    """The epoch loop every optimisation here runs (the latent `Loop` below and the evaluator network): a fresh
    permutation per epoch from `perm_generator`, batches of row indices handed to `step`, the batches' stats kept on
    the device and checked once per epoch (naming the first non-finite step), then one history entry per key.

    `step(idx)` takes one optimisation step on the rows `idx` and returns its stats as a 1-d tensor summed over the
    batch's rows, the loss first (the divergence check reads it). `summarise` turns the epoch's summed [steps, k]
    stats into the history values (default: their column means over `n_total` rows).
    """

    step: Callable[[Tensor], Tensor]
    n_rows: int  # rows this process iterates over per epoch
    epochs: int
    batch_size: int
    perm_generator: torch.Generator
    device: torch.device
    label: str
    fix: str  # what to change when a loss diverges, for the error message
    keys: tuple[str, ...]  # history names of `step`'s stats (then "seconds" when timed)
    history: dict
    epoch: int = 0
    world: World = SINGLE
    steps_per_epoch: int | None = None  # equal on every rank; None: ceil(n_rows / batch_size)
    n_total: int | None = None  # rows across all ranks, for epoch means; None: n_rows
    summarise: Callable[[Tensor], list[float]] | None = None
    timed: bool = True  # append each epoch's wall seconds to history["seconds"]

    def batches(self, perm: Tensor) -> tuple[Tensor, ...]:
        """Index batches of one epoch; a rank whose shard is one image short still takes the common step count."""
        chunks = perm.split(self.batch_size)
        if self.steps_per_epoch is not None and len(chunks) != self.steps_per_epoch:
            chunks = perm.tensor_split(self.steps_per_epoch)
        return chunks

    def run(self, on_epoch_end: Callable[["Epochs"], None] | None = None, progress: bool = True,
            postfix: Callable[[dict], dict] | None = None) -> dict:
        n_total = self.n_total or self.n_rows
        bar = tqdm(total=self.epochs, initial=self.epoch, desc=self.label, disable=not progress, dynamic_ncols=True)
        while self.epoch < self.epochs:
            start = time.perf_counter()
            perm = torch.randperm(self.n_rows, generator=self.perm_generator).to(self.device)
            stats = [self.step(idx) for idx in self.batches(perm)]
            totals = all_sum(torch.stack(stats), self.world)
            raise_if_diverged(totals[:, 0], self.label, self.epoch + 1, self.history[self.keys[0]], self.fix,
                              per_step=self.batch_size)
            values = (self.summarise(totals) if self.summarise is not None
                      else (totals.sum(0) / n_total).tolist())
            self.epoch += 1
            for key, value in zip(self.keys, values):
                self.history[key].append(value)
            if self.timed:
                self.history["seconds"].append(time.perf_counter() - start)
            bar.update(1)
            if postfix is not None:
                bar.set_postfix(postfix(self.history))
            if on_epoch_end is not None:
                on_epoch_end(self)
        bar.close()
        return self.history


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

    def step(self, idx: Tensor) -> Tensor:
        """One step on the rows `idx`: (loss, reconstruction, KL) summed over the batch."""
        net = self.net if self.net is not None else self.decoder
        with autocast(self.images.device):  # bf16 only with `precision: bf16`
            loss, rec, kl = per_image_loss(net, self.dist, self.table(idx), self.images[idx], self.beta)
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
