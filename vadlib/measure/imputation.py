"""Missing-pixel imputation, the auto-decoder's own task: which pixels are hidden (masks), how good a completion is on
them (scores), how honest a VAD's spread is about its errors (uncertainty), and the baselines any model must beat.
Pure functions: tensors in, numbers out, no file I/O (the `impute` stages in vadlib/pipeline/ read and write).

Masks are bool [N, 28, 28], True on the *missing* pixels; the fit sees the rest (`observed = ~missing`). Two kinds:
random pixel dropout at a missing ratio r in [0, 1) (exactly round(r * 784) pixels per image, drawn per image from a
seeded generator, so image i's mask does not depend on how many images are drawn), and structured masks by name
(`STRUCTURED`: one small registered function per mask).

Scores, of a completion (observed pixels kept, the missing ones filled) against the truth, on [0, 1] pixels:
- `mse` over the scored pixels, `psnr` = 10 log10(1 / mse) (None when mse is 0);
- `course_loss`, the course's measure (`reconstruction.course_loss`) restricted to the scored pixels: on 0-255
  pixels, consecutive batches of 64 images, per batch ||x - x_hat|| over the batch's scored pixels divided by their
  count (B * n_missing when every image hides n_missing), then the plain mean over batches (a short last batch
  counting as one; a batch with no scored pixel is left out). Over every pixel it is `course_loss` itself.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from ..core.images import N_PIXELS, SIDE
from ..core.latents import masked_sq_distances
from ..infra.errors import ConfigError
from ..infra.runtime import generator
from .course import COURSE_BATCH
from .evaluator import embed

STRUCTURED: dict[str, Callable[[int], Tensor]] = {}  # name -> (side -> bool [side, side], True = missing)
RANDOM = "random"  # the mask kind of pixel dropout at a ratio


def register_mask(name: str):
    def wrap(fn):
        STRUCTURED[name] = fn
        return fn
    return wrap


@register_mask("bottom_half")
def _bottom_half(side: int) -> Tensor:
    m = torch.zeros(side, side, dtype=torch.bool)
    m[side // 2:, :] = True
    return m


@register_mask("right_half")
def _right_half(side: int) -> Tensor:
    m = torch.zeros(side, side, dtype=torch.bool)
    m[:, side // 2:] = True
    return m


@register_mask("centre_square")
def _centre_square(side: int) -> Tensor:
    """The centred square of half the side (14x14 of 28x28)."""
    m = torch.zeros(side, side, dtype=torch.bool)
    lo = side // 4
    m[lo:lo + side // 2, lo:lo + side // 2] = True
    return m


def check_ratio(ratio: float, where: str = "impute.ratios") -> float:
    """A missing ratio in [0, 1) that leaves at least one pixel shown; else one ConfigError naming `where`."""
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 <= ratio < 1.0:
        raise ConfigError(f"{where}: got {ratio!r}, expected a missing ratio >= 0 and < 1")
    if round(ratio * N_PIXELS) >= N_PIXELS:
        raise ConfigError(f"{where}: got {ratio!r}, which hides every pixel of an image ({N_PIXELS}); expected a ratio "
                          f"below {(N_PIXELS - 0.5) / N_PIXELS:.5f}")
    return float(ratio)


def check_shows_something(missing: Tensor, where: str) -> Tensor:
    """A mask that hides every pixel of some image leaves nothing to fit: one ConfigError naming `where`."""
    hidden_all = missing.flatten(1).all(1)
    if bool(hidden_all.any()):
        raise ConfigError(f"{where}: the mask hides every pixel of image {int(hidden_all.nonzero()[0])}; expected a "
                          "mask that leaves some pixels observed")
    return missing


def random_missing(n: int, ratio: float, gen: torch.Generator, where: str = "impute.ratios") -> Tensor:
    """bool [n, 28, 28]: exactly round(ratio * 784) missing pixels per image, drawn row by row from `gen`."""
    k = round(check_ratio(ratio, where) * N_PIXELS)
    order = torch.rand(n, N_PIXELS, generator=gen).argsort(dim=1)
    missing = torch.zeros(n, N_PIXELS, dtype=torch.bool)
    missing.scatter_(1, order[:, :k], True)
    return missing.view(n, SIDE, SIDE)


def structured_missing(name: str, n: int, where: str = "impute.masks") -> Tensor:
    """bool [n, 28, 28]: the registered mask `name` for every image; an unknown name is one ConfigError naming
    `where` and the known masks."""
    if name not in STRUCTURED:
        raise ConfigError(f"{where}: got {name!r}, expected one of {', '.join(STRUCTURED)}")
    mask = STRUCTURED[name](SIDE)
    check_shows_something(mask.view(1, -1), where)
    return mask.expand(n, SIDE, SIDE).clone()


def condition_key(ratio: float) -> str:
    return f"{RANDOM}_{ratio:g}"


def conditions(ratios, masks, n: int, seed: int) -> dict[str, dict]:
    """Every configured condition in order (the random ratios, then the structured masks), keyed `random_<r>` or the
    mask's name: {"mask": kind, "ratio": r (None for a structured mask), "missing": bool [n, 28, 28]}. The same seed
    gives every variant and the baselines the same masks."""
    out = {}
    for i, ratio in enumerate(ratios):
        key = condition_key(check_ratio(ratio, f"impute.ratios[{i}]"))
        out[key] = {"mask": RANDOM, "ratio": float(ratio),
                    "missing": random_missing(n, ratio, generator(seed, f"impute/mask/{key}"), f"impute.ratios[{i}]")}
    for i, name in enumerate(masks):
        out[name] = {"mask": name, "ratio": None, "missing": structured_missing(name, n, f"impute.masks[{i}]")}
    return out


def describe_condition(cond: dict) -> dict:
    """A condition's header in the metrics: its mask kind, ratio (None: structured) and actual missing share."""
    return {"mask": cond["mask"], "ratio": cond["ratio"], "missing_fraction": float(cond["missing"].double().mean())}


def accuracy(evaluator, images01: Tensor, labels: Tensor) -> float:
    """The evaluator's top-1 accuracy on `images01` [N, 1, 28, 28] against the true `labels`."""
    probs = embed(evaluator, images01.float())[1]
    return float((probs.argmax(1) == labels.cpu()).double().mean())


def _flat(images: Tensor) -> Tensor:
    return images.reshape(images.shape[0], -1).double()


def complete(x01: Tensor, pred01: Tensor, missing: Tensor) -> Tensor:
    """The completed images [N, 1, 28, 28]: observed pixels from `x01`, missing ones from `pred01`."""
    shape = (x01.shape[0], 1, SIDE, SIDE)
    return torch.where(missing.reshape(shape), pred01.reshape(shape).to(x01.dtype), x01.reshape(shape))


def course_loss_on(x01: Tensor, pred01: Tensor, region: Tensor, batch_size: int = COURSE_BATCH) -> float | None:
    """The course's measure restricted to `region` (bool, True on the scored pixels): see the module docstring."""
    x, p, r = _flat(x01) * 255.0, _flat(pred01) * 255.0, region.reshape(x01.shape[0], -1)
    per_batch = []
    for a, b, m in zip(x.split(batch_size), p.split(batch_size), r.split(batch_size)):
        count = int(m.sum())
        if count:
            per_batch.append(torch.linalg.norm((a - b)[m]) / count)
    return float(torch.stack(per_batch).mean()) if per_batch else None


def scores(x01: Tensor, pred01: Tensor, region: Tensor, batch_size: int = COURSE_BATCH) -> dict:
    """{mse, psnr, course_loss} of `pred01` against `x01` on the pixels of `region` (None each when it is empty)."""
    r = region.reshape(x01.shape[0], -1)
    if not bool(r.any()):
        return {"mse": None, "psnr": None, "course_loss": None}
    mse = float((_flat(x01) - _flat(pred01)).pow(2)[r].mean())
    return {"mse": mse, "psnr": 10 * math.log10(1.0 / mse) if mse > 0 else None,
            "course_loss": course_loss_on(x01, pred01, r, batch_size)}


def imputation_scores(x01: Tensor, pred01: Tensor, missing: Tensor, batch_size: int = COURSE_BATCH) -> dict:
    """A prediction `pred01` (the decode, or a baseline's images) scored three ways: `missing` (the completion on the
    missing pixels: the task), `whole` (the completed image on every pixel, comparable with evaluate's test
    reconstruction) and `observed` (the prediction on the pixels it was given: how closely the fit matched them)."""
    completed = complete(x01, pred01, missing)
    everything = torch.ones_like(missing, dtype=torch.bool)
    return {"missing": scores(x01, completed, missing, batch_size),
            "whole": scores(x01, completed, everything, batch_size),
            "observed": scores(x01, pred01, ~missing, batch_size)}


NO_UNCERTAINTY = {"samples": None, "mean_std": None, "correlation": None, "coverage_50": None, "coverage_90": None}


def _quantiles(sorted_draws: Tensor, q: float) -> Tensor:
    """Linear-interpolation quantile (numpy's default) along dim 0 of already sorted draws."""
    pos = q * (sorted_draws.shape[0] - 1)
    lo, frac = math.floor(pos), pos - math.floor(pos)
    hi = min(lo + 1, sorted_draws.shape[0] - 1)
    return sorted_draws[lo] + frac * (sorted_draws[hi] - sorted_draws[lo])


def pearson(a: Tensor, b: Tensor) -> float | None:
    """Pearson correlation of two flat tensors (float64); None when either is constant."""
    a, b = a.double() - a.double().mean(), b.double() - b.double().mean()
    denom = float(a.norm() * b.norm())
    return float((a * b).sum()) / denom if denom > 0 else None


def uncertainty(x01: Tensor, completions: Tensor, missing: Tensor) -> dict:
    """How a VAD's spread matches its errors, on the missing pixels, from K completions [K, N, ...] (decodes of K
    draws from each image's fitted posterior):
    - `mean_std`: the mean per-pixel std of the K values (unbiased);
    - `correlation`: Pearson correlation over the missing pixels of that std with the actual error
      |x - mean of the K completions| (does the model know where it is wrong?);
    - `coverage_50` / `coverage_90`: how often the central 50% / 90% interval of the K values (their empirical 25-75%
      and 5-95% quantiles, linear interpolation) contains the true pixel; calibrated: 0.5 and 0.9.
    """
    k = completions.shape[0]
    if k < 2:
        raise ValueError(f"samples: got {k} completions, expected at least 2 for a spread")
    m = missing.reshape(-1).bool()
    if not bool(m.any()):
        return {**NO_UNCERTAINTY, "samples": k}
    draws = completions.reshape(k, -1).double()[:, m]
    truth = x01.reshape(-1).double()[m]
    std = draws.std(0)
    error = (truth - draws.mean(0)).abs()
    ordered = draws.sort(0).values
    covered = {}
    for name, (lo_q, hi_q) in (("coverage_50", (0.25, 0.75)), ("coverage_90", (0.05, 0.95))):
        lo, hi = _quantiles(ordered, lo_q), _quantiles(ordered, hi_q)
        covered[name] = float(((truth >= lo) & (truth <= hi)).double().mean())
    return {"samples": k, "mean_std": float(std.mean()), "correlation": pearson(std, error), **covered}


def mean_fill(train01: Tensor, n: int) -> Tensor:
    """The per-pixel train mean as every image's prediction [n, 1, 28, 28] (float64)."""
    return _flat(train01).mean(0).view(1, 1, SIDE, SIDE).expand(n, 1, SIDE, SIDE).clone()


def knn_fill(train01: Tensor, x01: Tensor, missing: Tensor, k: int, chunk: int = 256) -> Tensor:
    """k-nearest-neighbour imputation [N, 1, 28, 28] (float64): for each image, the k train images nearest on the
    pixels it shows (squared Euclidean over its own observed pixels, so random masks work per image; ties go to the
    lower train row), averaged pixel by pixel."""
    train = _flat(train01)
    if not 1 <= k <= train.shape[0]:
        raise ConfigError(f"impute.knn_k: got {k}, expected 1 to {train.shape[0]} (the train images)")
    x, observed = _flat(x01), (~missing.reshape(x01.shape[0], -1)).double()
    out = []
    for xs, ws in zip(x.split(chunk), observed.split(chunk)):
        dist = masked_sq_distances(xs, ws, train)
        nearest = dist.sort(dim=1, stable=True).indices[:, :k]
        out.append(train[nearest].mean(1))
    return torch.cat(out).view(-1, 1, SIDE, SIDE) if out else torch.empty(0, 1, SIDE, SIDE, dtype=torch.float64)
