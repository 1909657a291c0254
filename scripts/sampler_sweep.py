"""Sampler sweep: how the GMM's size, covariance and temperature trade sample quality against copying, per variant.

Reads the committed pipeline outputs (models, evaluator, prepared data; run `dvc repro` first), refits each sampler
setting below and scores `quality.n_samples` draws as the `evaluate` stage does (same evaluator, train images and
seed), then writes reports/sampler_sweep.md. The settings are chosen here, so they are scored against held-out real
images (the evaluator's validation images, which neither the variants nor the evaluator trained on), never against the
test images that `evaluate` reports: the test set is used once, for the chosen setting. Nothing in the pipeline depends
on it; it documents why the `samplers` params are what they are. About 10 minutes on 2 CPU cores (5000 draws per
setting):

    .venv/bin/python scripts/sampler_sweep.py
"""
from __future__ import annotations

import argparse
import dataclasses

import torch

from vadlib.core.samplers import GMM, get_sampler
from vadlib.pipeline import artifacts as paths
from vadlib.infra.cli import run
from vadlib.infra.config import load_params
from vadlib.infra.io import write_text
from vadlib.pipeline.checkpoint import load_trained
from vadlib.measure.evaluator import to_unit
from vadlib.measure.generation import NOT_A_COPY, draw_images
from vadlib.studies.proxy import committed_inputs
from vadlib.measure.samples import reference_set, sample_quality

GRID = [("prior", {}), ("gaussian", {}), ("posterior", {}),
        *(("gmm", {"gmm_components": k, "temperature": t}) for k in (10, 20, 50, 100, 200) for t in (1.0, 0.8)),
        ("gmm", {"gmm_components": 150}),
        # the default 100 components with one other covariance setting each (params' gmm_reg_covar: 0.0001)
        *(("gmm", {"gmm_reg_covar": r}) for r in (0.001, 0.01)),
        *(("gmm", {"gmm_covariance": c}) for c in ("tied", "diag")),
        *(("gmm", {"gmm_pca_dim": k}) for k in (20, 50)),
        # the class-conditional mixture: the same total sizes split over the classes, and one cooler setting
        *(("class_gmm", {"gmm_components": k}) for k in (50, 100, 150, 200)),
        ("class_gmm", {"temperature": 0.8})]
OUT = "reports/sampler_sweep.md"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    cfg = load_params(args.params)
    device = torch.device("cpu")
    train_data, test_data, evaluator, held_out = committed_inputs(device)
    test, train = to_unit(test_data["images"]), to_unit(train_data["images"])
    held_out = to_unit(held_out)[: cfg.quality.n_samples]
    ref = reference_set(evaluator, held_out, train, cfg.quality.n_samples)
    real = sample_quality(evaluator, test, ref, cfg.quality, cfg.seed)
    lines = [
        "# Sampler sweep", "",
        "Written by `python scripts/sampler_sweep.py` from the committed models (default params otherwise): "
        f"{cfg.quality.n_samples} draws per setting, scored like the `evaluate` stage but against "
        f"{len(held_out)} held-out real images (the evaluator's validation images), not the test images: the "
        "settings are chosen here and scored on the test images once, by `evaluate`. A setting counts as a "
        f"generator only if its feature-space nearest-train ratio is >= {NOT_A_COPY} (the no-copy gate); the pixel "
        "ratio is shown for comparison. The test images against the same held-out images: FD "
        f"{real['fd']:.2f}, recognisable {real['recognisable']:.3f}, ratios {real['nn_train_ratio']:.3f} "
        f"(features) / {real['nn_train_pixel_ratio']:.3f} (pixels).", "",
        "| variant | sampler | components | covariance, reg_covar, PCA dims | temperature | FD | recognisable | "
        "min class share | nearest-train ratio: features | pixels | passes the gate |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for variant in cfg.variants:
        trained = load_trained(paths.model(variant), device)
        for name, change in GRID:
            scfg = dataclasses.replace(cfg.samplers, **change)
            sampler = get_sampler(name).fit(trained.dist, trained.train_params, scfg, cfg.seed, trained.labels)
            fake = draw_images(sampler, trained.decoder, cfg.quality.n_samples, cfg.seed, f"{variant}/{name}")
            r = sample_quality(evaluator, fake, ref, cfg.quality, cfg.seed)
            gmm = isinstance(sampler, GMM)  # every mixture sampler, class_gmm included, has these settings
            shape = f"{scfg.gmm_covariance}, {scfg.gmm_reg_covar:g}, {scfg.gmm_pca_dim or 'all'}" if gmm else ""
            row = (f"| {variant} | {name} | {scfg.gmm_components if gmm else ''} | {shape} | {scfg.temperature:g} | "
                   f"{r['fd']:.2f} | {r['recognisable']:.3f} | {r['min_class_share']:.3f} | "
                   f"{r['nn_train_ratio']:.3f} | {r['nn_train_pixel_ratio']:.3f} | "
                   f"{'yes' if r['nn_train_ratio'] >= NOT_A_COPY else 'no'} |")
            lines.append(row)
            print(row, flush=True)
    write_text(OUT, "\n".join(lines) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    run(main)
