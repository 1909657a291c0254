"""Where and how reproducibly things run: the compute device, and random streams derived from the one seed."""
from __future__ import annotations

import zlib

import torch

from .errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """`auto`: CUDA when present, else CPU; nothing else in vadlib assumes either."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device: got {name!r} but CUDA is not available here; use 'auto' or 'cpu'")
    return torch.device(name)


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def derive_seed(seed: int, purpose: str) -> int:
    """Each purpose ("train/normal", "fit/test/ad", ...) gets its own stream, so adding one never shifts another."""
    return (seed * 1_000_003 + zlib.crc32(purpose.encode())) % (2**63 - 1)


def generator(seed: int, purpose: str) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed(seed, purpose))


def seed_everything(seed: int, purpose: str) -> None:
    """Seed torch's global RNGs (CPU and CUDA), which reparametrised sampling draws from."""
    torch.manual_seed(derive_seed(seed, purpose))
