"""Everything measured about one variant, in one metrics file: reconstruction, latent structure, generation.

- reconstruction: train (learned parameters), train refit and test (fitted, decoder frozen), on the course's measure;
- latent: k-NN and logistic-regression probes of the test codes (fit on train codes), active units, raw-pixel k-NN
  as the reference the codes should beat;
- samples: one score row per sampler plus the reference rows, and the best sampler (see `generation`).
"""
from __future__ import annotations

import torch

from ..core.distributions import LatentDistribution
from ..core.models import Decoder, decode_images
from ..infra.config import Config
from ..infra.errors import DivergenceError
from .generation import sample_study
from .metrics import reconstruction_metrics
from .probes import latent_quality, pixel_knn_accuracy


def split_metrics(decoder: Decoder, dist: LatentDistribution, params: torch.Tensor, images_uint8: torch.Tensor,
                  batch_size: int) -> dict:
    """Decode each image's distribution mean, the deterministic reconstruction, and score it."""
    out = reconstruction_metrics(images_uint8, decode_images(decoder, dist.mean(params)), batch_size)
    if not dist.is_point:
        out["kl"] = float(dist.kl(params).mean())
    return out


def reconstruction(trained, fitted: dict, train_data: dict, test_data: dict, batch_size: int = 64) -> dict:
    decoder, dist = trained.decoder, trained.dist
    out = {"train": split_metrics(decoder, dist, trained.train_params, train_data["images"], batch_size)}
    if "train_refit" in fitted:
        out["train_refit"] = split_metrics(decoder, dist, fitted["train_refit"], train_data["images"], batch_size)
    out["test"] = split_metrics(decoder, dist, fitted["test"], test_data["images"], batch_size)
    return out


def latent(trained, fitted: dict, train_data: dict, test_data: dict, cfg: Config) -> dict:
    q = cfg.quality
    out = latent_quality(trained.dist, trained.train_params, train_data["labels"], fitted["test"],
                         test_data["labels"], q)
    pixels = (train_data["images"], train_data["labels"], test_data["images"], test_data["labels"], q.nearest_k)
    out["pixel_knn_accuracy"] = pixel_knn_accuracy(*pixels)
    out["pixel_knn_cosine_accuracy"] = pixel_knn_accuracy(*pixels, "cosine")
    return out


def evaluate_variant(trained, fitted: dict, train_data: dict, test_data: dict, held_out_uint8: torch.Tensor,
                     evaluator, cfg: Config, variant: str) -> dict:
    """The whole metrics file of one variant; refuses to return anything NaN."""
    from .evaluator import to_unit

    metrics = {"variant": variant, "distribution": trained.dist.name,
               **reconstruction(trained, fitted, train_data, test_data, cfg.evaluate.batch_size),
               "latent": latent(trained, fitted, train_data, test_data, cfg)}
    images = {"test": to_unit(test_data["images"]), "train": to_unit(train_data["images"]),
              "held_out": to_unit(held_out_uint8)}
    metrics.update(sample_study(trained, evaluator, fitted["test"], images, cfg, variant))
    _refuse_nan(metrics, variant)
    return metrics


def _refuse_nan(tree, where: str) -> None:
    if isinstance(tree, dict):
        for key, value in tree.items():
            _refuse_nan(value, f"{where}.{key}")
    elif isinstance(tree, float) and tree != tree:
        raise DivergenceError(f"{where} is NaN; refusing to report it")
