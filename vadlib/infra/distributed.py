"""Multi-process training with torch.distributed: who I am, which images I own, and the few collectives needed.

An auto-decoder shards naturally (DeepSDF): each rank owns a contiguous block of the training images and only
their latent rows, so the per-image table is never all-reduced; only the decoder's gradients are (DDP). The global
batch stays `train.batch_size` (each rank takes batch_size / world_size), so the step count and learning-rate
schedule match a single process. Launch with torchrun, which sets RANK/WORLD_SIZE/LOCAL_RANK:

    torchrun --nproc_per_node 2 stages/train.py normal                      # one machine
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv-backend c10d \\
             --rdzv-endpoint HOST:29500 --rdzv-id vad1 stages/train.py normal  # run on each of two machines

Backend: NCCL on CUDA (one GPU per local rank, BatchNorm -> SyncBatchNorm), gloo on CPU (where PyTorch has no
SyncBatchNorm: each rank normalises with its own batch statistics and DDP broadcasts rank 0's running stats).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .errors import ConfigError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        """True inside a torchrun launch (even with one process): collectives are live."""
        return dist.is_available() and dist.is_initialized()

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = World()


def launched() -> bool:
    """True when torchrun (or another launcher following its env protocol) started this process."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def init_world(device_name: str) -> tuple[World, torch.device]:
    """Join the process group torchrun set up; returns the world and this rank's device.

    device_name: params' `device` (auto | cpu | cuda...). CUDA ranks use GPU LOCAL_RANK with NCCL; CPU ranks gloo.
    """
    from .runtime import resolve_device

    world = World(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))
    device = resolve_device(device_name)
    if device.type == "cuda":
        if world.local_rank >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK {world.local_rank}: this machine has only {torch.cuda.device_count()} "
                              "GPUs; lower --nproc_per_node")
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", device_id=device
                                if device.type == "cuda" else None)
    return world, device


def close_world() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard(n: int, world: World) -> torch.Tensor:
    """The contiguous block of image indices this rank owns (sizes differ by at most one)."""
    if n < world.size:
        raise ConfigError(f"{n} training images cannot be shared by {world.size} processes")
    return torch.tensor_split(torch.arange(n), world.size)[world.rank]


def local_batch(batch_size: int, world: World) -> int:
    if batch_size % world.size:
        raise ConfigError(f"train.batch_size: {batch_size} is not divisible by the {world.size} processes; "
                          "the global batch is split evenly across them")
    return batch_size // world.size


def all_sum(t: torch.Tensor, world: World) -> torch.Tensor:
    """Sum over ranks (a no-op outside a launch); every rank gets the result."""
    if world.active:
        t = t.clone()
        dist.all_reduce(t)
    return t


def all_max(value: int, world: World, device: torch.device) -> int:
    if not world.active:
        return value
    t = torch.tensor([value], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def agree(value: int, world: World, device: torch.device) -> bool:
    """True when every rank holds the same integer (e.g. the epoch each one resumed from)."""
    return all_max(value, world, device) == -all_max(-value, world, device)


def barrier(world: World) -> None:
    """Wait until every rank has got here (a no-op outside a launch)."""
    if world.active:
        dist.barrier()


def gather_rows(local: torch.Tensor, world: World) -> torch.Tensor | None:
    """Rank 0 gets every rank's rows concatenated in rank order (CPU); other ranks get None."""
    local = local.detach().cpu()
    if not world.active:
        return local
    parts = [None] * world.size if world.is_main else None
    dist.gather_object(local, parts, dst=0)
    return torch.cat(parts) if world.is_main else None
