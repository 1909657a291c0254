"""The cheap end-to-end check behind tuning and the benchmark: train one variant, fit test images, score both.

Skips what only the report needs (train refit, t-SNE, figures), so one setting costs minutes, not a full run.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import torch
import yaml

from ..pipeline.checkpoint import as_trained
from ..pipeline import artifacts as paths
from ..infra.config import Config, FitConfig, load_params, parse_params
from ..infra.data import load_prepared
from ..infra.errors import ConfigError
from ..infra.overrides import with_overrides
from ..pipeline.fit import fit_latents
from ..measure.reconstruction import reconstruction_metrics
from ..measure.probes import knn_probe
from ..core.models import decode_images
from ..pipeline.train import train_variant


def configured(params: str | os.PathLike, settings: list[str]) -> Config:
    """The params file with `--set` settings applied (the file itself must be valid too)."""
    load_params(params)
    return parse_params(with_overrides(yaml.safe_load(Path(params).read_text()), settings))


def refuse_changed_inputs(cfg: Config, base: Config, command: str) -> None:
    """A campaign that reuses the committed prepared data and evaluator may not be given settings that change them."""
    if cfg.data != base.data or cfg.evaluator != base.evaluator:
        raise ConfigError(f"{command} reuses the prepared data and the evaluator: settings may not change `data` or "
                          "`evaluator` (use `dvc exp run -S ...` for those)")


def committed_inputs(device: torch.device, split: str = "validation"
                     ) -> tuple[dict, dict, torch.nn.Module, torch.Tensor]:
    """What the scripts that re-measure settings read from the committed pipeline: the prepared train data, the
    images they fit and score (`split`: the validation images for every choice; `test` only to re-measure the
    pipeline's own test figures), the evaluator network and its held-out real images (the instrument stays fixed)."""
    from ..measure.evaluator import held_out_images, load_evaluator

    scored = {"validation": paths.VAL_DATA, "test": paths.TEST_DATA}[split]
    evaluator, val_rows = load_evaluator(paths.EVALUATOR, device)
    held_out = held_out_images(load_prepared(paths.POOL_DATA), val_rows)
    return load_prepared(paths.TRAIN_DATA), load_prepared(scored), evaluator, held_out


def validation_data(cfg: Config, n: int | None = None) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """The train subset `cfg.data` selects and the first `n` (default `cfg.data.n_val`) validation images and labels
    (`infra.data.validation_rows`), read from the raw files: what every tuning run fits and scores."""
    from ..infra.data import select_subset, validation_rows

    train, xt, yt = _raw_splits(cfg)
    test_idx = select_subset(yt, cfg.data.n_test, cfg.data.subset, cfg.seed)
    rows = validation_rows(len(yt), test_idx, cfg.data.n_val if n is None else n)
    return train, xt[rows], yt[rows]


def course_data(cfg: Config, n_test: int | None = None) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """The train subset `cfg.data` selects and the first `n_test` (default `cfg.data.n_test`) test images and labels,
    read from the raw files: for the Uniform ablation, which reruns the course's own protocol on its test images (it
    chooses nothing); tuning uses `validation_data`."""
    train, xt, yt = _raw_splits(cfg)
    n_test = cfg.data.n_test if n_test is None else n_test
    return train, xt[:n_test], yt[:n_test]


def _raw_splits(cfg: Config) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """The train subset `cfg.data` selects, and the whole test split's images and labels, from the raw files."""
    from ..infra.data import load_split, select_subset

    (x, y), (xt, yt) = (load_split(cfg.data.resolved_root, split, cfg.data.verify_md5) for split in ("train", "test"))
    idx = select_subset(y, cfg.data.n_train, cfg.data.subset, cfg.seed)
    return {"images": x[idx], "labels": y[idx], "indices": idx}, xt, yt


def fit_and_score(model: dict, cfg: Config, variant: str, train_data: dict, test_images: torch.Tensor,
                  device: torch.device, fit: FitConfig | None = None, test_labels: torch.Tensor | None = None) -> dict:
    """Fit `test_images` against a trained model file's decoder (with `fit`, default cfg.fit) and score both splits.

    Returns test/train course_loss, the fitted test rows (`test_params`), the fit's wall seconds and its per-epoch
    loss and seconds (for time-to-quality); with `test_labels`, also the k-NN probe of the test codes.
    """
    fit = fit or cfg.fit
    trained = as_trained(model, device)
    decoder, dist = trained.decoder, trained.dist
    params, history = fit_latents(decoder, cfg.variant(variant), fit, test_images, cfg.seed, f"fit/test/{variant}",
                                  progress=False, train_params=trained.train_params)

    def score(images, codes):
        recon = decode_images(decoder, dist.mean(codes))
        return reconstruction_metrics(images, recon, cfg.evaluate.batch_size)["course_loss"]

    out = {"test_course_loss": score(test_images, params),
           "train_course_loss": score(train_data["images"], model["latents"]), "test_params": params,
           "fit_seconds": sum(history["seconds"]), "fit_loss_curve": history["loss"],
           "fit_seconds_curve": history["seconds"]}
    if test_labels is not None:
        out["knn_accuracy"] = knn_probe(dist, model["latents"], train_data["labels"], params, test_labels,
                                        cfg.quality.nearest_k)
    return out


def train_fit_score(cfg: Config, variant: str, train_data: dict, test_images: torch.Tensor,
                    device: torch.device, test_labels: torch.Tensor | None = None) -> dict:
    """course_loss of the learned train codes and of the fitted test codes (and, given `test_labels`, the k-NN
    probe of the test codes); `seconds` covers train + fit."""
    start = time.perf_counter()
    model, _ = train_variant(cfg, variant, train_data, device, progress=False)
    scores = fit_and_score(model, cfg, variant, train_data, test_images, device, test_labels=test_labels)
    keys = ("test_course_loss", "train_course_loss", "knn_accuracy")
    return {**{k: scores[k] for k in keys if k in scores}, "seconds": time.perf_counter() - start}


def train_and_fit_test(cfg: Config, variant: str, train_data: dict, test_data: dict, device: torch.device,
                       progress: bool = False):
    """Train one variant and fit the test images exactly as the train and fit stages do (no train refit); returns
    (Trained, the fitted file's content) for `evaluate.evaluate_variant`. Used by `tune evaluate`."""
    from ..pipeline.fit import fit_splits

    model, _ = train_variant(cfg, variant, train_data, device, progress=progress)
    trained = as_trained(model, device)
    fitted, *_ = fit_splits(trained.decoder, cfg.variant(variant), cfg.fit, {"test": test_data}, cfg.seed, variant,
                            progress=progress, train_params=trained.train_params)
    return trained, fitted


def headline(metrics: dict) -> dict:
    """The figures the study's targets are judged on, read from one variant's metrics file."""
    best = metrics["best_sampler"]
    row = metrics["samples"].get(best["name"], {})
    return {"test_course_loss": metrics["test"]["course_loss"], "train_course_loss": metrics["train"]["course_loss"],
            "best_sampler": best["name"], "best_fd": row.get("fd"), "fd_vs_baseline": best["fd_vs_baseline"],
            "recognisable": row.get("recognisable"), "recognisable_vs_real": best["recognisable_vs_real"],
            "min_class_share": row.get("min_class_share"), "nn_train_ratio": row.get("nn_train_ratio"),
            "knn_accuracy": metrics["latent"]["knn_accuracy"],
            "knn_cosine_accuracy": metrics["latent"]["knn_cosine_accuracy"]}
