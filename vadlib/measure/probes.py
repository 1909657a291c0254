"""Latent quality: how much class structure the code means carry, and how many latent units are used at all.

Linear and k-NN probes (scikit-learn) trained on train code means and scored on test code means; raw-pixel k-NN
is the reference a useful latent space should approach or beat. The k-NN probe runs with Euclidean distance and
with cosine distance (the usual k-NN evaluation of learned representations, e.g. DINO): a code's direction can
carry its class while its length carries, say, brightness. The logistic probe runs on standardised codes and on the
codes as they are: standardising gives every dimension unit variance, which inflates near-constant directions (the
AD's L2 penalty leaves ~90 of them), so the two together show whether the class lives in the directions the code
actually uses. Active units follow Burda et al. (2016): a unit whose mean code barely varies across images carries
no information. Their threshold is an absolute variance (0.01), which suits a VAD, whose prior fixes the scale, but
not the AD, whose code scale BatchNorm makes arbitrary; here it is relative to the mean variance of a unit.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

LOGREG_MAX_ITER = 5000  # lbfgs converges well before this on these codes; deterministic (no shuffling)


def _np(x: Tensor) -> np.ndarray:
    return x.detach().cpu().double().reshape(x.shape[0], -1).numpy()


def _labels(y: Tensor) -> np.ndarray:
    return torch.as_tensor(y).detach().cpu().reshape(-1).long().numpy()


def _knn_accuracy(train_x, train_y, test_x, test_y, k: int, metric: str = "euclidean") -> float:
    from sklearn.neighbors import KNeighborsClassifier

    clf = KNeighborsClassifier(n_neighbors=min(k, len(train_x)), metric=metric).fit(train_x, train_y)
    return float(clf.score(test_x, test_y))


def pixel_knn_accuracy(train_images: Tensor, train_labels: Tensor, test_images: Tensor, test_labels: Tensor,
                       k: int, metric: str = "euclidean") -> float:
    """k-NN accuracy on raw pixels (any scale, flattened): the baseline for the codes' k-NN probes."""
    return _knn_accuracy(_np(train_images), _labels(train_labels), _np(test_images), _labels(test_labels), k,
                         metric)


def active_units(means: Tensor, threshold: float) -> int:
    """Number of latent dims whose code means vary across images by more than `threshold` times the mean variance
    of a dim: relative, so that rescaling the codes (the AD's scale is arbitrary) leaves the count unchanged."""
    variance = means.double().var(dim=0)
    return int((variance > threshold * variance.mean()).sum())


def _means(dist, params: Tensor) -> Tensor:
    return dist.mean(params.detach().cpu().double())


def knn_probe(dist, train_params: Tensor, train_labels: Tensor, test_params: Tensor, test_labels: Tensor, k: int,
              metric: str = "euclidean") -> float:
    """k-NN accuracy of the test code means, neighbours taken among the train code means (one of latent_quality's
    probes, alone: for tuning scripts that need nothing else)."""
    return _knn_accuracy(_np(_means(dist, train_params)), _labels(train_labels), _np(_means(dist, test_params)),
                         _labels(test_labels), k, metric)


def latent_quality(dist, train_params: Tensor, train_labels: Tensor, test_params: Tensor, test_labels: Tensor,
                   cfg) -> dict:
    """knn_accuracy, knn_cosine_accuracy, logreg_accuracy (standardised codes), logreg_unscaled_accuracy (test
    accuracy of probes fit on train code means) and active_units.

    cfg: a QualityConfig (nearest_k, active_threshold).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_means = _means(dist, train_params)
    xtr, xte = _np(train_means), _np(_means(dist, test_params))
    ytr, yte = _labels(train_labels), _labels(test_labels)
    logreg = make_pipeline(StandardScaler(), LogisticRegression(max_iter=LOGREG_MAX_ITER)).fit(xtr, ytr)
    unscaled = LogisticRegression(max_iter=LOGREG_MAX_ITER).fit(xtr, ytr)
    return {
        "knn_accuracy": _knn_accuracy(xtr, ytr, xte, yte, cfg.nearest_k),
        "knn_cosine_accuracy": _knn_accuracy(xtr, ytr, xte, yte, cfg.nearest_k, "cosine"),
        "logreg_accuracy": float(logreg.score(xte, yte)),
        "logreg_unscaled_accuracy": float(unscaled.score(xte, yte)),
        "active_units": active_units(train_means, cfg.active_threshold),
    }
