"""Everything measured about one variant, in one metrics file: reconstruction, latent structure, generation.

- reconstruction: train (learned parameters), train refit and test (fitted, decoder frozen), on the course's measure;
- latent: k-NN and logistic-regression probes of the test codes (fit on train codes), active units, raw-pixel k-NN
  as the reference the codes should beat;
- samples: one score row per sampler plus the reference rows, and the best sampler (see `generation`);
- likelihood: the test negative ELBO under a Gaussian pixel likelihood (`test.nelbo`, see `likelihood_on_test`), and
  per test image its squared error, KL and negative ELBO (`per_image`, written to metrics/per_image/<variant>.csv).
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..core.distributions import LatentDistribution
from ..core.models import Decoder, decode_images
from ..infra.config import Config
from ..infra.errors import DivergenceError
from ..infra.runtime import derive_seed
from .generation import sample_study
from .metrics import negative_elbo, per_image_squared_error, reconstruction_metrics
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


def per_image_path(variant: str) -> Path:
    """The evaluate stage's per-test-image table (dvc.yaml declares it): paired comparisons between variants."""
    return Path("metrics/per_image") / f"{variant}.csv"


NELBO_DRAWS = 4  # reparametrised draws per test image for the reconstruction term of the negative ELBO
PER_IMAGE_COLUMNS = ("image", "label", "squared_error", "kl", "rec_nll", "nelbo")


def likelihood_on_test(trained, fitted: dict, test_data: dict, sigma2: float, seed: int,
                       variant: str) -> tuple[dict, dict]:
    """(summary, per-image columns) of the fitted test codes under a Gaussian pixel likelihood N(f(z), sigma2 I).

    `sigma2` is the maximum-likelihood pixel variance of the train reconstructions (the train `mse`); summary keys
    (nats per image): `nelbo` = `nelbo_rec` + `kl` for a VAD, `nelbo_rec` alone for the AD (no KL to a density), and
    `nelbo_sigma` = sqrt(sigma2). Columns follow PER_IMAGE_COLUMNS; `squared_error` is ||x - x_hat||^2 on [0, 1] of the
    deterministic reconstruction (its mean / 784 is `test.mse`); `kl` and `nelbo` are None for the AD.
    """
    decoder, dist, params = trained.decoder, trained.dist, fitted["test"]
    images = test_data["images"]
    squared = per_image_squared_error(images, decode_images(decoder, dist.mean(params)))
    terms = negative_elbo(decoder, dist, params, images, sigma2, NELBO_DRAWS, derive_seed(seed, f"nelbo/{variant}"))
    summary = {"nelbo_sigma": sigma2 ** 0.5, "nelbo_rec": float(terms["rec_nll"].mean())}
    if "nelbo" in terms:
        summary["nelbo"] = float(terms["nelbo"].mean())
    n = images.shape[0]
    labels = test_data.get("labels")
    columns = {"image": list(range(n)),
               "label": [int(v) for v in labels] if labels is not None else [None] * n,
               "squared_error": squared.tolist(),
               "kl": terms["kl"].tolist() if "kl" in terms else [None] * n,
               "rec_nll": terms["rec_nll"].tolist(),
               "nelbo": terms["nelbo"].tolist() if "nelbo" in terms else [None] * n}
    return summary, columns


def evaluate_variant(trained, fitted: dict, train_data: dict, test_data: dict, held_out_uint8: torch.Tensor,
                     evaluator, cfg: Config, variant: str, per_image: dict | None = None) -> dict:
    """The whole metrics file of one variant; refuses to return anything NaN. Given a dict `per_image`, fills it with
    the per-test-image columns of `likelihood_on_test` (for metrics/per_image/<variant>.csv)."""
    from .evaluator import to_unit

    metrics = {"variant": variant, "distribution": trained.dist.name,
               **reconstruction(trained, fitted, train_data, test_data, cfg.evaluate.batch_size),
               "latent": latent(trained, fitted, train_data, test_data, cfg)}
    images = {"test": to_unit(test_data["images"]), "train": to_unit(train_data["images"]),
              "held_out": to_unit(held_out_uint8)}
    metrics.update(sample_study(trained, evaluator, fitted["test"], images, cfg, variant))
    # after everything else, on its own seeded stream: the keys above keep their values
    summary, columns = likelihood_on_test(trained, fitted, test_data, metrics["train"]["mse"], cfg.seed, variant)
    metrics["test"].update(summary)
    if per_image is not None:
        per_image.update(columns)
    _refuse_nan(metrics, variant)
    return metrics


def _refuse_nan(tree, where: str) -> None:
    if isinstance(tree, dict):
        for key, value in tree.items():
            _refuse_nan(value, f"{where}.{key}")
    elif isinstance(tree, float) and tree != tree:
        raise DivergenceError(f"{where} is NaN; refusing to report it")
