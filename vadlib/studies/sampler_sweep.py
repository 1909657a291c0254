"""Sampler sweep: how the GMM's size, covariance and temperature trade sample quality against copying, per variant.

    python scripts/study.py sampler-sweep run      # writes reports/sampler_sweep.md

Reads the committed pipeline outputs (models, evaluator, prepared data; run `dvc repro` first), refits each sampler
setting below and scores `quality.n_samples` draws as the `evaluate` stage does (same evaluator, train images and
seed), then writes reports/sampler_sweep.md. The settings are chosen here, so they are scored against held-out real
images (the evaluator's validation images, which neither the variants nor the evaluator trained on), never against the
test images that `evaluate` reports: the test set is used once, for the chosen setting. Nothing in the pipeline depends
on it; it documents why the `samplers` params are what they are. About 10 minutes on 2 CPU cores (5000 draws per
setting).
"""
from __future__ import annotations

import dataclasses
import os

from ..infra.config import load_params
from ..infra.io import write_text
from ..infra.markdown import fixed, table
from ..pipeline import artifacts

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
COMMAND = "python scripts/study.py sampler-sweep run"
HEAD = ("variant", "sampler", "components", "covariance, reg_covar, PCA dims", "temperature", "FD", "recognisable",
        "min class share", "nearest-train ratio: features", "pixels", "passes the gate")


def row(variant: str, name: str, scfg, gmm: bool, r: dict, gate: float) -> list[str]:
    """One line of the table: a sampler setting (`scfg`; the mixture columns only for a mixture) and its scores."""
    shape = f"{scfg.gmm_covariance}, {scfg.gmm_reg_covar:g}, {scfg.gmm_pca_dim or 'all'}" if gmm else ""
    return [variant, name, str(scfg.gmm_components) if gmm else "", shape, f"{scfg.temperature:g}", fixed(r["fd"], 2),
            fixed(r["recognisable"], 3), fixed(r["min_class_share"], 3), fixed(r["nn_train_ratio"], 3),
            fixed(r["nn_train_pixel_ratio"], 3), "yes" if r["nn_train_ratio"] >= gate else "no"]


def run(params: str = "params.yaml", out: str | os.PathLike = OUT) -> None:
    import torch

    from ..core.samplers import GMM, get_sampler
    from ..measure.evaluator import to_unit
    from ..measure.generation import NOT_A_COPY, draw_images
    from ..measure.samples import reference_set, sample_quality
    from ..pipeline.checkpoint import load_trained
    from .proxy import committed_inputs

    cfg = load_params(params)
    device = torch.device("cpu")
    train_data, val_data, evaluator, held_out = committed_inputs(device, "validation")
    val, train = to_unit(val_data["images"]), to_unit(train_data["images"])
    held_out = to_unit(held_out)[: cfg.quality.n_samples]
    ref = reference_set(evaluator, held_out, train, cfg.quality.n_samples)
    real = sample_quality(evaluator, val, ref, cfg.quality, cfg.seed)
    rows = []
    for variant in cfg.variants:
        trained = load_trained(artifacts.model(variant), device)
        for name, change in GRID:
            scfg = dataclasses.replace(cfg.samplers, **change)
            sampler = get_sampler(name).fit(trained.dist, trained.train_params, scfg, cfg.seed, trained.labels)
            fake = draw_images(sampler, trained.decoder, cfg.quality.n_samples, cfg.seed, f"{variant}/{name}")
            r = sample_quality(evaluator, fake, ref, cfg.quality, cfg.seed)
            # every mixture sampler, class_gmm included, has the mixture settings
            rows.append(row(variant, name, scfg, isinstance(sampler, GMM), r, NOT_A_COPY))
            print(table(HEAD, rows[-1:])[-1], flush=True)
    lines = [
        "# Sampler sweep", "",
        f"Written by `{COMMAND}` from the committed models (default params otherwise): "
        f"{cfg.quality.n_samples} draws per setting, scored like the `evaluate` stage but against "
        f"{len(held_out)} held-out real images (the evaluator's validation images), not the test images: the "
        "settings are chosen here and scored on the test images once, by `evaluate`. A setting counts as a "
        f"generator only if its feature-space nearest-train ratio is >= {NOT_A_COPY} (the no-copy gate); the pixel "
        "ratio is shown for comparison. The validation images against the same held-out images: FD "
        f"{real['fd']:.2f}, recognisable {real['recognisable']:.3f}, ratios {real['nn_train_ratio']:.3f} "
        f"(features) / {real['nn_train_pixel_ratio']:.3f} (pixels).", "",
        *table(HEAD, rows),
    ]
    write_text(out, "\n".join(lines) + "\n")
    print(f"wrote {out}")


def register(parser) -> None:
    """`scripts/study.py sampler-sweep run`."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = sub.add_parser("run", help=f"score every sampler setting of the grid, write {OUT}")
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--out", default=OUT)
    p.set_defaults(func=lambda a: run(a.params, a.out))
