"""Independent, reproducible random streams derived from the one seed in params."""
from __future__ import annotations

import zlib

import torch


def derive_seed(seed: int, purpose: str) -> int:
    """Each purpose ("train/normal", "fit/test/ad", ...) gets its own stream, so adding one never shifts another."""
    return (seed * 1_000_003 + zlib.crc32(purpose.encode())) % (2**63 - 1)


def generator(seed: int, purpose: str) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed(seed, purpose))


def seed_everything(seed: int, purpose: str) -> None:
    """Seed torch's global RNGs (CPU and CUDA), which reparametrised sampling draws from."""
    torch.manual_seed(derive_seed(seed, purpose))
