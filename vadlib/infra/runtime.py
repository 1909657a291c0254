"""Where and how reproducibly things run: the compute device, its arithmetic, and random streams from the one seed.

Importing this module makes CUDA float32 strict: cuDNN's TF32 convolutions (on by default in PyTorch) are switched
off like TF32 matmuls already are, so a GPU run computes what the CPU computes up to rounding. `set_precision` is
the one place that opts a training loop into TF32 or bf16 autocast (the `precision` param).
"""
from __future__ import annotations

import contextlib
import zlib

import torch

from .config import PRECISIONS
from .errors import ConfigError

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
_autocast_dtype: torch.dtype | None = None


def resolve_device(name: str = "auto") -> torch.device:
    """`auto`: CUDA when present, else CPU; nothing else in vadlib assumes either."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device: got {name!r} but CUDA is not available here; use 'auto' or 'cpu'")
    return torch.device(name)


def set_precision(name: str) -> None:
    """float32 (strict, the default) | tf32 (TF32 matmuls and convolutions on Ampere+ GPUs; no effect on CPUs) |
    bf16 (autocast of the training loops' forward passes to bfloat16; on CPUs 10-30x slower, meant for GPUs)."""
    global _autocast_dtype
    if name not in PRECISIONS:
        raise ConfigError(f"precision: got {name!r}, expected one of {', '.join(PRECISIONS)}")
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = name == "tf32"
    _autocast_dtype = torch.bfloat16 if name == "bf16" else None


def autocast(device: torch.device):
    """The training loops' forward-pass context: bf16 autocast when `set_precision("bf16")`, else nothing."""
    if _autocast_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=_autocast_dtype)


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
