"""The epoch loop every optimisation in the project runs: the latent `Loop` (core/optimize.py) and the evaluator
network (measure/evaluator.py). Kept apart from the latent machinery, so the evaluator depends on no distribution.

A fresh permutation per epoch from a seeded generator; each step gathers its batch by index (no Dataset/DataLoader in
the hot loop); per-step stats stay on the device and are checked once per epoch, which keeps CUDA free of per-step
syncs while still naming the exact step where a loss went non-finite. Under torch.distributed the stats are summed
across ranks once per epoch, so every rank logs (and stops on) the same.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..infra.distributed import SINGLE, World, all_sum
from ..infra.errors import raise_if_diverged


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
