"""Everything measured about one variant, in one metrics file: reconstruction, latent structure, generation.

- reconstruction: train (learned parameters), train refit and test (fitted, decoder frozen), on the course's measure;
- latent: k-NN and logistic-regression probes of the test codes (fit on train codes), active units, raw-pixel k-NN
  as the reference the codes should beat;
- samples: one score row per sampler plus the reference rows, and the best sampler (see `generation`);
- likelihood: an importance-sampled log p(x) of the first test images in bits/dim (`test.bits_per_dim`, comparable
  between variants; `vadlib/measure/likelihood.py`), the KL's floor for the family (`test.kl_floor`); and the
  negative ELBO under a Gaussian pixel likelihood at the train MSE (`test.nelbo`: a training diagnostic, not
  comparable between variants, as the variance rewards memorised train images); per test image its squared error,
  KL, negative ELBO and log p(x) (`per_image`, written to metrics/per_image/<variant>.csv).
"""
from __future__ import annotations

import torch

from ..core.distributions import LatentDistribution
from ..core.images import to_unit
from ..core.models import decode_images
from ..infra.config import Config
from ..infra.errors import DivergenceError
from ..infra.runtime import derive_seed
from ..measure.generation import sample_study
from ..measure.reconstruction import negative_elbo, per_image_squared_error, reconstruction_metrics
from ..measure.probes import latent_quality, pixel_knn_accuracy


def decode_means(trained, fitted: dict) -> dict[str, torch.Tensor]:
    """Each split's deterministic reconstruction (its distributions' means, decoded), once: every measure below
    reads these images rather than decoding again."""
    rows = {"train": trained.train_params, **fitted}
    return {split: decode_images(trained.decoder, trained.dist.mean(params)) for split, params in rows.items()}


def split_metrics(dist: LatentDistribution, params: torch.Tensor, images_uint8: torch.Tensor, recon01: torch.Tensor,
                  batch_size: int) -> dict:
    """The reconstruction `recon01` of `images_uint8` scored, and the mean KL of the parameters for a VAD."""
    out = reconstruction_metrics(images_uint8, recon01, batch_size)
    if not dist.is_point:
        out["kl"] = float(dist.kl(params).mean())
    return out


def reconstruction(trained, fitted: dict, train_data: dict, test_data: dict, batch_size: int = 64,
                   decoded: dict | None = None) -> dict:
    dist = trained.dist
    decoded = decoded if decoded is not None else decode_means(trained, fitted)
    out = {"train": split_metrics(dist, trained.train_params, train_data["images"], decoded["train"], batch_size)}
    if "train_refit" in fitted:
        out["train_refit"] = split_metrics(dist, fitted["train_refit"], train_data["images"], decoded["train_refit"],
                                           batch_size)
    out["test"] = split_metrics(dist, fitted["test"], test_data["images"], decoded["test"], batch_size)
    return out


def latent(trained, fitted: dict, train_data: dict, test_data: dict, cfg: Config) -> dict:
    q = cfg.quality
    out = latent_quality(trained.dist, trained.train_params, train_data["labels"], fitted["test"],
                         test_data["labels"], q)
    pixels = (train_data["images"], train_data["labels"], test_data["images"], test_data["labels"], q.nearest_k)
    out["pixel_knn_accuracy"] = pixel_knn_accuracy(*pixels)
    out["pixel_knn_cosine_accuracy"] = pixel_knn_accuracy(*pixels, "cosine")
    return out


NELBO_DRAWS = 4  # reparametrised draws per test image for the reconstruction term of the negative ELBO
PER_IMAGE_COLUMNS = ("image", "label", "squared_error", "kl", "rec_nll", "nelbo", "log_px")


def likelihood_on_test(trained, fitted: dict, test_data: dict, sigma2: float, seed: int,
                       variant: str, recon_test: torch.Tensor | None = None) -> tuple[dict, dict]:
    """(summary, per-image columns) of the fitted test codes under a Gaussian pixel likelihood N(f(z), sigma2 I).

    `sigma2` is the maximum-likelihood pixel variance of the train reconstructions (the train `mse`); summary keys
    (nats per image): `nelbo` = `nelbo_rec` + `kl` for a VAD, `nelbo_rec` alone for the AD (no KL to a density), and
    `nelbo_sigma` = sqrt(sigma2). Columns follow PER_IMAGE_COLUMNS; `squared_error` is ||x - x_hat||^2 on [0, 1] of the
    deterministic reconstruction (its mean / 784 is `test.mse`); `kl` and `nelbo` are None for the AD.
    """
    decoder, dist, params = trained.decoder, trained.dist, fitted["test"]
    images = test_data["images"]
    if recon_test is None:
        recon_test = decode_images(decoder, dist.mean(params))
    squared = per_image_squared_error(images, recon_test)
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


def likelihood_model(trained, train_data: dict, decoded_train: torch.Tensor, train_mse: float, beta: float):
    """The likelihood's Model from train data only: the pixel scale fitted on the train images' decodes, the AD's
    prior from its penalty."""
    from ..measure import likelihood as lk

    log_scale = lk.fit_log_scale(to_unit(train_data["images"]), decoded_train)
    dist = trained.dist
    return lk.Model(trained.decoder, dist, log_scale, lk.ad_prior_var(train_mse, beta) if dist.is_point else 1.0)


def likelihood_proposal(model, trained, test_params: torch.Tensor, test_uint8: torch.Tensor, cfg: Config,
                        variant: str):
    """(each test image's importance proposal, the seed of the estimate's draws): fitted to the model's posterior,
    started at the image's fitted code."""
    from ..measure import likelihood as lk

    seed = derive_seed(cfg.seed, f"likelihood/{variant}")
    start = trained.dist.mean(test_params)
    return lk.fit_proposal(model, start, test_uint8, cfg.evaluate.likelihood_proposal_steps, seed), seed + 1


def importance_likelihood(trained, train_data: dict, test_data: dict, decoded_train: torch.Tensor, train_mse: float,
                          beta: float, cfg: Config, variant: str) -> tuple[dict, torch.Tensor]:
    """({bits_per_dim, log_px, likelihood settings}, per-image log p(x) in nats) of the first
    `evaluate.likelihood_images` test images (`vadlib.measure.likelihood`)."""
    from ..measure import likelihood as lk

    ev = cfg.evaluate
    model = likelihood_model(trained, train_data, decoded_train, train_mse, beta)
    n = min(ev.likelihood_images, test_data["images"].shape[0])
    images = test_data["images"][:n]
    proposal, seed = likelihood_proposal(model, trained, test_data["params"][:n], images, cfg, variant)
    log_px = lk.log_likelihood(model, proposal, images, ev.likelihood_samples, seed)
    n_dims = test_data["images"][0].numel()
    summary = {"bits_per_dim": lk.bits_per_dim(log_px, n_dims), "log_px": float(log_px.mean()),
               "likelihood": {"images": n, "samples": ev.likelihood_samples,
                              "proposal_steps": ev.likelihood_proposal_steps, "pixel_log_scale": model.log_scale,
                              "prior_var": model.prior_std ** 2,
                              "proposal_mean_std": float(proposal.std.mean()) if n else None}}
    return summary, log_px


def evaluate_variant(trained, fitted: dict, train_data: dict, test_data: dict, held_out_uint8: torch.Tensor,
                     evaluator, cfg: Config, variant: str, per_image: dict | None = None) -> dict:
    """The whole metrics file of one variant; refuses to return anything NaN. Given a dict `per_image`, fills it with
    the per-test-image columns of `likelihood_on_test` (for metrics/per_image/<variant>.csv)."""
    decoded = decode_means(trained, fitted)
    metrics = {"variant": variant, "distribution": trained.dist.name,
               **reconstruction(trained, fitted, train_data, test_data, cfg.evaluate.batch_size, decoded),
               "latent": latent(trained, fitted, train_data, test_data, cfg)}
    images = {"test": to_unit(test_data["images"]), "train": to_unit(train_data["images"]),
              "held_out": to_unit(held_out_uint8), "reconstruction": decoded["test"]}
    metrics.update(sample_study(trained, evaluator, fitted["test"], images, cfg, variant))
    # after everything else, on its own seeded stream: the keys above keep their values
    summary, columns = likelihood_on_test(trained, fitted, test_data, metrics["train"]["mse"], cfg.seed, variant,
                                          decoded["test"])
    metrics["test"].update(summary)
    if not trained.dist.is_point:
        metrics["test"]["kl_floor"] = trained.dist.kl_floor_per_dim * (fitted["test"].shape[1] // trained.dist.n_params)
    like, log_px = importance_likelihood(trained, train_data, {**test_data, "params": fitted["test"]}, decoded["train"],
                                         metrics["train"]["mse"], cfg.variant(variant).beta, cfg, variant)
    metrics["test"].update(like)
    columns["log_px"] = log_px.tolist() + [None] * (test_data["images"].shape[0] - log_px.shape[0])
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


def stage(cfg: Config, variant: str) -> str:
    """The `evaluate@<variant>` stage: the metrics file, the per-image table and the wall time."""
    import time

    from ..infra.data import load_prepared
    from ..infra.io import write_csv, write_json
    from ..infra.runtime import describe
    from ..measure.evaluator import held_out_images, load_evaluator
    from . import artifacts
    from .checkpoint import open_variant

    start = time.perf_counter()
    device, trained, fitted = open_variant(cfg, variant)
    evaluator, val_rows = load_evaluator(artifacts.EVALUATOR, device)
    held_out = held_out_images(load_prepared(artifacts.POOL_DATA), val_rows)
    per_image: dict = {}
    metrics = evaluate_variant(trained, fitted, load_prepared(artifacts.TRAIN_DATA), load_prepared(artifacts.TEST_DATA),
                               held_out, evaluator, cfg, variant, per_image)
    write_json(artifacts.metrics(variant), metrics)
    write_csv(artifacts.per_image(variant), PER_IMAGE_COLUMNS, zip(*(per_image[c] for c in PER_IMAGE_COLUMNS)))
    artifacts.write_seconds("evaluate", variant, time.perf_counter() - start, describe(device))
    best = metrics["best_sampler"]
    return (f"evaluate/{variant}: course_loss train {metrics['train']['course_loss']:.4f}, "
            f"test {metrics['test']['course_loss']:.4f}; best sampler {best['name']} "
            f"(FD {metrics['samples'].get(best['name'], {}).get('fd', float('nan')):.2f})")
