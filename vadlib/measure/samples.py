"""Sample quality measured in the evaluator's feature space, with maintained metric implementations.

Features and class probabilities are computed once per image set (`evaluator.embed`, on the evaluator's device, in
chunks) and then handed to torchmetrics' FID/KID through an identity "feature extractor": torchmetrics passes
whatever `update` receives straight to a custom module (its `normalize` flag only matters for Inception), so feeding
it precomputed float64 features gives the same numbers as wrapping `net.features`, without running the net three
times (FID, KID, PRDC). `prdc` supplies precision/recall/density/coverage (Naeem et al., 2020).

The memorisation check compares each sample's distance to its nearest training image with the same distance for
the real test images. It is gated in the evaluator's feature space, where every other score lives: in pixel space
blur reads as closeness (a blurry image is near every training image), which marks even the decoded *test*
reconstructions as 0.85x "copies"; the pixel ratio is still reported beside it. The test and training sides are
computed once per variant (`Reference`) and reused for every sampler.

On a GPU the pairwise searches (nearest-train distances, PRDC's k-NN radii) run there in float64, in chunks; on the
CPU PRDC is the `prdc` package itself, and `prdc_on_device` is tested against it.
"""
from __future__ import annotations

import contextlib
import io
import math
import warnings
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..infra.errors import ConfigError, DivergenceError
from ..infra.runtime import derive_seed

CHUNK = 512
KID_SUBSETS = 50  # subsets of size min(1000, n) drawn when the sets are larger than one subset
KEYS = ("fd", "kid", "precision", "recall", "density", "coverage", "recognisable", "min_class_share",
        "nn_train_distance", "nn_train_ratio", "nn_train_pixel_distance", "nn_train_pixel_ratio")


class _Precomputed(nn.Module):
    """Identity feature extractor: torchmetrics receives features that were already computed."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, x: Tensor) -> Tensor:
        return x.double()


def frechet_distance(real_feats: Tensor, fake_feats: Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (torchmetrics FID, float64 state)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=_Precomputed(real_feats.shape[1]), normalize=True)
    metric.update(real_feats.cpu(), real=True)
    metric.update(fake_feats.cpu(), real=False)
    return float(metric.compute())


def kernel_distance(real_feats: Tensor, fake_feats: Tensor, seed: int) -> float:
    """Mean KID (polynomial-kernel MMD^2) over subsets of size min(1000, n_real, n_fake).

    torchmetrics draws subsets with torch.randperm from the global RNG, so compute runs inside fork_rng with a
    derived seed: reproducible, and the caller's stream is untouched. When one subset already holds both sets whole,
    every subset gives the same value and one is computed.
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    size = min(1000, len(real_feats), len(fake_feats))
    subsets = 1 if size == len(real_feats) == len(fake_feats) else KID_SUBSETS
    with warnings.catch_warnings():  # "will save all extracted features in buffer": intended here
        warnings.filterwarnings("ignore", message=".*save all extracted features.*")
        metric = KernelInceptionDistance(feature=_Precomputed(real_feats.shape[1]), subsets=subsets,
                                         subset_size=size, normalize=True)
    metric.update(real_feats.cpu(), real=True)
    metric.update(fake_feats.cpu(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "quality/kid"))
        mean, _std = metric.compute()
    return float(mean)


def prdc_metrics(real_feats: Tensor, fake_feats: Tensor, nearest_k: int) -> dict:
    """precision, recall, density, coverage (Naeem et al., 2020): the `prdc` package on the CPU (its progress print
    swallowed), `prdc_on_device` where the features live on a GPU."""
    if min(len(real_feats), len(fake_feats)) < nearest_k + 2:
        raise ConfigError(f"quality.nearest_k: got {nearest_k}, but precision/recall need at least "
                          f"nearest_k + 2 images in each set (have {len(real_feats)} real, {len(fake_feats)} fake)")
    if real_feats.device.type != "cpu":
        return prdc_on_device(real_feats, fake_feats, nearest_k)
    from prdc import compute_prdc

    with contextlib.redirect_stdout(io.StringIO()):
        out = compute_prdc(real_feats.double().numpy(), fake_feats.double().numpy(), nearest_k=nearest_k)
    return {key: float(value) for key, value in out.items()}


def _kth_neighbour_radius(x: Tensor, k: int) -> Tensor:
    """Distance from each row to its k-th nearest other row (the (k+1)-th smallest, the row itself being 0)."""
    return torch.cat([torch.cdist(chunk, x).kthvalue(k + 1, dim=1).values for chunk in x.split(CHUNK)])


def prdc_on_device(real_feats: Tensor, fake_feats: Tensor, nearest_k: int) -> dict:
    """`prdc.compute_prdc`'s definitions in torch, on the features' device (float64): the same strict comparisons
    against the k-NN radii, the real-fake distances one chunk of real rows at a time."""
    real, fake = real_feats.double(), fake_feats.to(real_feats.device).double()
    real_radii, fake_radii = _kth_neighbour_radius(real, nearest_k), _kth_neighbour_radius(fake, nearest_k)
    inside = torch.zeros(len(fake), dtype=torch.float64, device=real.device)  # real balls holding each fake row
    recalled, covered = [], []
    for rows, radii in zip(real.split(CHUNK), real_radii.split(CHUNK)):
        d = torch.cdist(rows, fake)                                   # [chunk of real, fake]
        inside += (d < radii[:, None]).sum(0)
        recalled.append((d < fake_radii[None, :]).any(1))
        covered.append(d.min(1).values < radii)
    return {"precision": float((inside > 0).double().mean()), "recall": float(torch.cat(recalled).double().mean()),
            "density": float(inside.mean() / nearest_k), "coverage": float(torch.cat(covered).double().mean())}


def class_shares(probs: Tensor) -> list[float]:
    """Share of images the evaluator assigns (argmax) to each class: mode collapse shows as a tiny share."""
    counts = torch.bincount(probs.argmax(dim=1), minlength=probs.shape[1])
    return (counts.double() / probs.shape[0]).tolist()


def nn_distance(x: Tensor, train: Tensor) -> float:
    """Mean over rows of x of the Euclidean distance to the nearest row of train (images are flattened; pixels on
    the [0, 1] scale or evaluator features alike), computed on train's device."""
    train = train.reshape(train.shape[0], -1).double()
    nearest = [torch.cdist(chunk.to(train.device).reshape(chunk.shape[0], -1).double(), train).min(dim=1).values
               for chunk in x.split(CHUNK)]
    return float(torch.cat(nearest).mean())


def _check_finite(what: str, **tensors: Tensor) -> None:
    bad = [name for name, t in tensors.items() if not torch.isfinite(t).all()]
    if bad:
        raise DivergenceError(f"{what}: {', '.join(bad)} contain NaN or infinite values")


def embed_images(net, images01: Tensor) -> tuple[Tensor, Tensor]:
    """(features, class probabilities) as float64, on the evaluator's device, where the distances are computed."""
    from .evaluator import embed

    feats, probs = embed(net, images01)
    _check_finite("evaluator outputs", features=feats, probabilities=probs)
    device = next(net.parameters()).device
    return feats.double().to(device), probs.double()


@dataclass(frozen=True)
class Reference:
    """What every sample set is scored against, computed once: the real test images' evaluator features, and the
    training images (pixels and features) with the real images' own nearest-train distances."""

    feats: Tensor
    n_knn: int  # the k-NN based scores (PRDC) compare with the first n_knn real features
    train_pixels: Tensor
    train_feats: Tensor
    nn_feature: float
    nn_pixel: float


def reference_set(net, real01: Tensor, train01: Tensor, n_real: int | None = None) -> Reference:
    """real01: the test images; train01: the images the variant trained on (both float in [0, 1]).

    The k-NN based scores (PRDC, the real images' own nearest-train distance) use the first `n_real` real images
    (all when None; `quality.n_samples` in the pipeline), which keeps the pairwise searches (N_test x N_train x 784
    pixels, N_test^2 features) affordable at full scale. FD and KID use every real image.
    """
    _check_finite("sample quality inputs", real_images=real01, train_images=train01)
    feats, _ = embed_images(net, real01)
    train_feats, _ = embed_images(net, train01)
    train_pixels = train01.to(train_feats.device)
    n = len(real01) if n_real is None else min(n_real, len(real01))
    return Reference(feats, n, train_pixels, train_feats, nn_distance(feats[:n], train_feats),
                     nn_distance(real01[:n], train_pixels))


def _ratio_or_nan(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def sample_quality(net, fake01: Tensor, ref: Reference, cfg, seed: int,
                   embedded: tuple[Tensor, Tensor] | None = None) -> dict:
    """Generated (or held-out real) images fake01 scored against `ref` (cfg: a QualityConfig); keys are KEYS.

    PRDC compares equal-sized sets, the first `ref.n_knn` of each (recall and coverage depend on the two set sizes,
    so more samples than real images would shift them); every other score uses all of fake01. `embedded`: fake01's
    (features, probabilities) from `embed_images` when the caller already has them.
    """
    _check_finite("sample quality inputs", fake_images=fake01)
    fake_feats, fake_probs = embedded if embedded is not None else embed_images(net, fake01)
    nn_feat, nn_pix = nn_distance(fake_feats, ref.train_feats), nn_distance(fake01, ref.train_pixels)
    out = {
        "fd": frechet_distance(ref.feats, fake_feats),
        "kid": kernel_distance(ref.feats, fake_feats, seed),
        **prdc_metrics(ref.feats[:ref.n_knn], fake_feats[:ref.n_knn], cfg.nearest_k),
        "recognisable": float((fake_probs.max(dim=1).values >= cfg.confidence).double().mean()),
        "min_class_share": min(class_shares(fake_probs)),
        "nn_train_distance": nn_feat,
        "nn_train_ratio": _ratio_or_nan(nn_feat, ref.nn_feature),
        "nn_train_pixel_distance": nn_pix,
        "nn_train_pixel_ratio": _ratio_or_nan(nn_pix, ref.nn_pixel),
    }
    out = {key: out[key] for key in KEYS}
    bad = [key for key, value in out.items() if math.isnan(value)]
    if bad:
        hint = " (the real images are copies of training images)" if min(ref.nn_feature, ref.nn_pixel) <= 0 else ""
        raise DivergenceError(f"sample quality: {', '.join(bad)} came out NaN{hint}")
    return out
