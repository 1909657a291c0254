"""Sample quality measured in the evaluator's feature space, with maintained metric implementations.

Features and class probabilities are computed once per image set (on the evaluator's device, in chunks) and then
handed to torchmetrics' FID/KID through an identity "feature extractor": torchmetrics passes whatever `update`
receives straight to a custom module (its `normalize` flag only matters for Inception), so feeding it precomputed
float64 features gives the same numbers as wrapping `net.features`, without running the net three times (FID, KID,
PRDC). `prdc` supplies precision/recall/density/coverage (Naeem et al., 2020). A memorisation check compares
each sample's nearest training image with the same distance for real test images.
"""
from __future__ import annotations

import contextlib
import io
import math
import warnings

import torch
from torch import Tensor, nn

from ..infra.errors import ConfigError, DivergenceError
from ..infra.runtime import derive_seed

CHUNK = 512
KID_SUBSETS = 50  # subsets of size min(1000, n) drawn when the sets are larger than one subset
KEYS = ("fd", "kid", "precision", "recall", "density", "coverage", "recognisable", "min_class_share",
        "nn_train_distance", "nn_train_ratio")


class _Precomputed(nn.Module):
    """Identity feature extractor: torchmetrics receives features that were already computed."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, x: Tensor) -> Tensor:
        return x.double()


@torch.no_grad()
def _embed(net, images01: Tensor) -> tuple[Tensor, Tensor]:
    """(features, probabilities) as CPU float64, computed on the net's device in chunks."""
    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    feats, probs = [], []
    for x in images01.split(CHUNK):
        x = x.to(device, torch.float32)
        feats.append(net.features(x).double().cpu())
        probs.append(torch.softmax(net(x).double(), dim=1).cpu())
    net.train(was_training)
    return torch.cat(feats), torch.cat(probs)


def frechet_distance(real_feats: Tensor, fake_feats: Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (torchmetrics FID, float64 state)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=_Precomputed(real_feats.shape[1]), normalize=True)
    metric.update(real_feats, real=True)
    metric.update(fake_feats, real=False)
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
    metric.update(real_feats, real=True)
    metric.update(fake_feats, real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "quality/kid"))
        mean, _std = metric.compute()
    return float(mean)


def prdc_metrics(real_feats: Tensor, fake_feats: Tensor, nearest_k: int) -> dict:
    """precision, recall, density, coverage from `prdc` (its progress print is swallowed)."""
    from prdc import compute_prdc

    if min(len(real_feats), len(fake_feats)) < nearest_k + 2:
        raise ConfigError(f"quality.nearest_k: got {nearest_k}, but precision/recall need at least "
                          f"nearest_k + 2 images in each set (have {len(real_feats)} real, {len(fake_feats)} fake)")
    with contextlib.redirect_stdout(io.StringIO()):
        out = compute_prdc(real_feats.double().numpy(), fake_feats.double().numpy(), nearest_k=nearest_k)
    return {key: float(value) for key, value in out.items()}


def class_shares(probs: Tensor) -> list[float]:
    """Share of images the evaluator assigns (argmax) to each class: mode collapse shows as a tiny share."""
    counts = torch.bincount(probs.argmax(dim=1), minlength=probs.shape[1])
    return (counts.double() / probs.shape[0]).tolist()


def nn_distance(images01: Tensor, train01: Tensor) -> float:
    """Mean over images of the Euclidean pixel distance ([0, 1] scale) to the nearest training image."""
    train = train01.reshape(train01.shape[0], -1).double()
    nearest = [torch.cdist(x.reshape(x.shape[0], -1).double(), train).min(dim=1).values
               for x in images01.split(CHUNK)]
    return float(torch.cat(nearest).mean())


def _check_finite(what: str, **tensors: Tensor) -> None:
    bad = [name for name, t in tensors.items() if not torch.isfinite(t).all()]
    if bad:
        raise DivergenceError(f"{what}: {', '.join(bad)} contain NaN or infinite values")


def sample_quality(net, fake01: Tensor, real01: Tensor, train01: Tensor, cfg, seed: int) -> dict:
    """Generated images fake01 vs the test images real01 (cfg: a QualityConfig); keys are always KEYS."""
    _check_finite("sample quality inputs", fake_images=fake01, real_images=real01, train_images=train01)
    real_feats, _ = _embed(net, real01)
    fake_feats, fake_probs = _embed(net, fake01)
    _check_finite("evaluator outputs", real_features=real_feats, fake_features=fake_feats, fake_probs=fake_probs)
    nn_fake, nn_real = nn_distance(fake01, train01), nn_distance(real01, train01)
    out = {
        "fd": frechet_distance(real_feats, fake_feats),
        "kid": kernel_distance(real_feats, fake_feats, seed),
        **prdc_metrics(real_feats, fake_feats, cfg.nearest_k),
        "recognisable": float((fake_probs.max(dim=1).values >= cfg.confidence).double().mean()),
        "min_class_share": min(class_shares(fake_probs)),
        "nn_train_distance": nn_fake,
        "nn_train_ratio": nn_fake / nn_real if nn_real > 0 else math.nan,
    }
    out = {key: out[key] for key in KEYS}
    bad = [key for key, value in out.items() if math.isnan(value)]
    if bad:
        hint = " (the real images are copies of training images)" if nn_real == 0 else ""
        raise DivergenceError(f"sample quality: {', '.join(bad)} came out NaN{hint}")
    return out


def reference_quality(net, real01: Tensor, held_out01: Tensor, train01: Tensor, cfg, seed: int) -> dict:
    """The floor: held-out real images scored as if they were samples (same keys as sample_quality)."""
    return sample_quality(net, held_out01, real01, train01, cfg, seed)
