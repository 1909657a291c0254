"""One exception family, so stages can print a clean one-line message instead of a traceback."""
from __future__ import annotations

from typing import Callable


class VadlibError(Exception):
    """A problem the user can fix (bad params, missing data, diverged run, bad checkpoint)."""


class ConfigError(VadlibError):
    """params.yaml does not match the schema; the message lists every problem, one per line."""


class DataError(VadlibError):
    """Fashion-MNIST files are missing, truncated, corrupted or not what the params ask for."""


class DivergenceError(VadlibError):
    """A loss became NaN or infinite; raised before anything is written."""


class CheckpointError(VadlibError):
    """A checkpoint is unreadable or belongs to another architecture or latent layout."""


class Interrupted(VadlibError):
    """The user stopped a run (Ctrl-C or SIGTERM); the message says where and how to resume."""


def raise_if_diverged(step_losses, label: str, epoch: int, last_finite: Callable[[int], str], fix: str) -> None:
    """Check one epoch's per-step losses (a tensor) with a single host sync; name the first bad step and the fix.

    Shared by every training loop, which keep per-step losses on the device and call this once per epoch, before
    anything is written. `last_finite(bad_step)` describes the last good value for the message.
    """
    finite = step_losses.isfinite()
    if bool(finite.all()):
        return
    bad = int((~finite).nonzero()[0])
    raise DivergenceError(f"{label}: loss became {step_losses[bad].item()} at epoch {epoch}, step {bad + 1} "
                          f"({last_finite(bad)}); nothing was written. {fix}")
