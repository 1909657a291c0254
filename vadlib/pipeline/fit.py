"""Encoding without an encoder: optimise fresh per-image parameters against the frozen decoder."""
from __future__ import annotations

import time

import torch

from ..infra.config import FitConfig, VariantConfig
from ..core.distributions import get_distribution
from ..core.latents import initial_params, latent_optimizer, nearest_start
from ..core.images import to_unit
from ..core.models import Decoder, decode_images
from ..core.optimize import Loop, lr_lambda
from ..infra.runtime import generator, seed_everything


def fit_latents(decoder: Decoder, variant: VariantConfig, fit: FitConfig, images_uint8: torch.Tensor,
                seed: int, purpose: str, progress: bool = True,
                train_params: torch.Tensor | None = None, exclude_self: bool = False,
                where: str = "variants.<variant>.distribution",
                observed: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """Fit parameters for `images_uint8` [N, 28, 28]; returns (params on CPU, per-epoch history).

    Same objective as training, decoder frozen, BN in inference mode, so every image's fit is independent of its
    batch mates. Start (`fit.init`): `nearest` copies the train row whose decode is nearest to the image (needs
    `train_params`); `random` is the course's start (labels of new images are unknown, so no class start).

    `observed` (imputation): bool [N, 28, 28], True on the pixels each image shows. The hidden pixels are zeroed on
    arrival, the nearest start compares observed pixels only and the reconstruction term sums over observed pixels
    only (`per_image_loss`), so a hidden pixel's value cannot change the fit; the KL term is the fit's. A mask that
    shows every pixel is no mask: the fit is then `fit`'s, bit for bit.
    """
    device = next(decoder.parameters()).device
    dist = get_distribution(variant.distribution, where)  # `where`: the params key, for an unknown name's message
    images = to_unit(images_uint8, device=device)
    weights = None
    if observed is not None and not bool(observed.all()):
        weights = observed.reshape(images.shape).to(device=device, dtype=images.dtype)
        images = images * weights
    if fit.init == "nearest":
        if train_params is None:
            raise ValueError("fit.init 'nearest' needs the trained rows (train_params)")
        decoded = decode_images(decoder, dist.mean(train_params)).to(device)
        init = nearest_start(decoded, train_params, images, exclude_self, observed=weights)
    else:
        init = initial_params(dist, images.shape[0], decoder.latent_dim, "random", variant.init_scale,
                              variant.init_width, generator(seed, f"init/{purpose}"))
    table, optimizer = latent_optimizer(fit.optimizer, init, device, fit.lr)
    steps = fit.epochs * -(-images.shape[0] // fit.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(steps, fit.schedule))
    seed_everything(seed, f"noise/{purpose}")
    loop = Loop(decoder, dist, table, images, variant.beta, fit.epochs, fit.batch_size, [optimizer], [scheduler],
                generator(seed, f"shuffle/{purpose}"), train_decoder=False, label=purpose, observed=weights)
    history = loop.run(progress=progress)
    return table.weight.detach().cpu(), history


def fit_splits(decoder: Decoder, variant: VariantConfig, fit: FitConfig, splits: dict[str, dict], seed: int,
               variant_name: str, progress: bool = True,
               train_params: torch.Tensor | None = None) -> tuple[dict, list[str], list[list], float]:
    """Fit every split ({"test": data, "train_refit": data}); returns the fitted file's content (a pure function
    of the inputs), the loss curves as CSV header and rows (one column per split), and the wall seconds apart."""
    start = time.perf_counter()
    fitted: dict = {"variant": variant_name, "history": {}}
    for split, data in splits.items():
        params, history = fit_latents(decoder, variant, fit, data["images"], seed, f"fit/{split}/{variant_name}",
                                      progress, train_params, exclude_self=split == "train_refit",
                                      where=f"variants.{variant_name}.distribution")
        fitted[split] = params
        fitted["history"][split] = {k: v for k, v in history.items() if k != "seconds"}
    header = ["epoch", *(f"{split}_loss" for split in splits)]
    rows = [[e + 1, *(fitted["history"][s]["loss"][e] for s in splits)] for e in range(fit.epochs)]
    return fitted, header, rows, time.perf_counter() - start


def stage(cfg, variant: str) -> str:
    """The `fit@<variant>` stage: encode the test images (and refit the train images) against the frozen decoder."""
    from ..infra.data import load_prepared
    from ..infra.io import save_tensors, write_csv
    from ..infra.runtime import announce_device, describe, resolve_device, set_precision
    from . import artifacts
    from .checkpoint import load_trained

    vcfg = cfg.variant(variant)
    device = resolve_device(cfg.device)
    announce_device(cfg.device, device)
    set_precision(cfg.precision)
    trained = load_trained(artifacts.model(variant), device)
    splits = {"test": load_prepared(artifacts.TEST_DATA)}
    if cfg.fit.refit_train:
        splits["train_refit"] = load_prepared(artifacts.TRAIN_DATA)
    fitted, header, rows, seconds = fit_splits(trained.decoder, vcfg, cfg.fit, splits, cfg.seed, variant,
                                               train_params=trained.train_params)
    save_tensors(artifacts.fitted(variant), fitted)
    write_csv(artifacts.fit_curve(variant), header, rows)
    artifacts.write_seconds("fit", variant, seconds, describe(device))
    return (f"fit/{variant}: " + ", ".join(f"{k} loss {fitted['history'][k]['loss'][-1]:.4f}" for k in splits)
            + f" in {seconds:.0f} s")
