"""Where and how reproducibly things run: the compute device, its arithmetic, and random streams from the one seed.

Importing this module makes CUDA float32 strict: cuDNN's TF32 convolutions (on by default in PyTorch) are switched
off like TF32 matmuls already are, so a GPU run computes what the CPU computes up to rounding. `set_precision` is
the one place that opts a training loop into TF32 or bf16 autocast (the `precision` param).
"""
from __future__ import annotations

import contextlib
import shutil
import sys
import zlib
from pathlib import Path

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
        raise ConfigError(f"device: got {name!r} but CUDA is not available here ({cuda_unusable_reason()}); "
                          "use 'auto' or 'cpu'")
    return torch.device(name)


def nvidia_visible() -> bool:
    """This machine shows an NVIDIA GPU driver, whether or not the installed PyTorch can use it."""
    return shutil.which("nvidia-smi") is not None or Path("/proc/driver/nvidia").exists()


def cuda_unusable_reason() -> str:
    """Why PyTorch cannot use CUDA here, in its own words (meaningful when torch.cuda.is_available() is False)."""
    if torch.version.cuda is None:
        return f"PyTorch {torch.__version__} is built without CUDA support"
    try:
        torch.cuda.init()  # raises what the failed CUDA initialisation reported: driver too old, no device, ...
        why = f"torch.cuda.device_count() is {torch.cuda.device_count()}"
    except Exception as exc:  # RuntimeError or AssertionError, depending on the cause
        why = " ".join(str(exc).split()) or type(exc).__name__
    return f"PyTorch {torch.__version__} built for CUDA {torch.version.cuda}: {why}"


def gpu_left_unused(name: str, device: torch.device) -> str | None:
    """A warning when `auto` chose the CPU although an NVIDIA GPU is visible (e.g. a driver too old for this PyTorch
    build, or a CPU-only PyTorch), which makes a full-scale run take hours instead of minutes; else None."""
    if name != "auto" or device.type != "cpu" or not nvidia_visible():
        return None
    return (f"device: auto fell back to the CPU although an NVIDIA GPU is visible; {cuda_unusable_reason()}. "
            "Training runs many times slower on the CPU; install a PyTorch build that matches the driver, or set "
            "device: cpu to choose the CPU knowingly.")


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


def device_line(name: str, device: torch.device) -> str:
    """What a stage prints first: the device it computes on, and for `auto` what decided it."""
    line = f"device: {describe(device)}"
    if name == "auto":
        line += " [auto: CUDA GPU]" if device.type == "cuda" else " [auto: no usable CUDA GPU]"
    return line


def announce_device(name: str, device) -> None:
    """Start a stage by naming its device on stderr, one line; warn when `device: auto` chose the CPU although an
    NVIDIA GPU is visible, since that run would quietly take hours instead of minutes.

    name: params' `device` (auto | cpu | cuda...); device: what it resolved to.
    """
    print(device_line(name, device), file=sys.stderr)
    warning = gpu_left_unused(name, device)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)


def derive_seed(seed: int, purpose: str) -> int:
    """Each purpose ("train/normal", "fit/test/ad", ...) gets its own stream, so adding one never shifts another."""
    return (seed * 1_000_003 + zlib.crc32(purpose.encode())) % (2**63 - 1)


def generator(seed: int, purpose: str) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed(seed, purpose))


def seed_everything(seed: int, purpose: str) -> None:
    """Seed torch's global RNGs (CPU and CUDA), which reparametrised sampling draws from."""
    torch.manual_seed(derive_seed(seed, purpose))
