"""One exception family, so stages can print a clean one-line message instead of a traceback."""
from __future__ import annotations


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


def raise_if_diverged(step_losses, label: str, epoch: int, epoch_losses: list[float], fix: str,
                      per_step: float = 1.0) -> None:
    """Check one epoch's per-step losses (a tensor) with a single host sync; name the first bad step, the last good
    value and the fix.

    Shared by every training loop, which keep per-step losses on the device and call this once per epoch, before
    anything is written. `epoch_losses` are the finished epochs' mean losses; a step's loss is divided by `per_step`
    (e.g. the batch size, for losses summed over a batch) to print it on the same scale.
    """
    finite = step_losses.isfinite()
    if bool(finite.all()):
        return
    bad = int((~finite).nonzero()[0])
    if bad > 0:
        last = f"last finite loss {step_losses[bad - 1].item() / per_step:.4g} at step {bad}"
    else:
        last = f"last finite epoch loss {epoch_losses[-1]:.4g}" if epoch_losses else "no finite loss yet"
    raise DivergenceError(f"{label}: loss became {step_losses[bad].item()} at epoch {epoch}, step {bad + 1} "
                          f"({last}); nothing was written. {fix}")
