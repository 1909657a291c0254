"""Fitting recipes on the committed models: fit the test images under each recipe, print test course_loss and 5-NN.

No training: every recipe refits the same `models/<variant>.pt` decoders (run `dvc repro` first), so one recipe
costs one fitting pass (~1-3 min per variant on 2 CPU cores). A recipe is init:lr:epochs[:beta] (beta: the KL /
code-penalty weight while fitting; default the variant's own, as in training), e.g.

    .venv/bin/python scripts/fit_recipes.py ad,normal random:1.0:150 nearest:0.2:100 nearest:0.2:100:0 > out.jsonl
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time

import torch

from vadlib.infra import paths
from vadlib.infra.cli import run
from vadlib.infra.config import load_params
from vadlib.infra.data import load_prepared
from vadlib.workflows.checkpoint import load_trained
from vadlib.workflows.evaluate import split_metrics
from vadlib.workflows.fit import fit_latents
from vadlib.workflows.probes import latent_quality


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("variants", help="comma-separated, e.g. ad,normal")
    ap.add_argument("recipes", nargs="+", help="init:lr:epochs[:beta], e.g. nearest:0.2:100")
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    cfg = load_params(args.params)
    train, test = load_prepared(paths.TRAIN_DATA), load_prepared(paths.TEST_DATA)
    cpu = torch.device("cpu")
    for variant in args.variants.split(","):
        trained = load_trained(paths.model(variant), cpu)
        for recipe in args.recipes:
            init, lr, epochs, *beta = recipe.split(":")
            fit = dataclasses.replace(cfg.fit, init=init, lr=float(lr), epochs=int(epochs))
            variant_cfg = cfg.variant(variant)
            if beta:
                variant_cfg = dataclasses.replace(variant_cfg, beta=float(beta[0]))
            start = time.perf_counter()
            params, _ = fit_latents(trained.decoder, variant_cfg, fit, test["images"], cfg.seed,
                                    f"fit/test/{variant}", progress=False, train_params=trained.train_params)
            seconds = time.perf_counter() - start
            scores = split_metrics(trained.decoder, trained.dist, params, test["images"], cfg.evaluate.batch_size)
            probes = latent_quality(trained.dist, trained.train_params, train["labels"], params, test["labels"],
                                    cfg.quality)
            print(json.dumps({"variant": variant, "init": init, "lr": float(lr), "epochs": int(epochs),
                              "fit_beta": variant_cfg.beta,
                              "test_course_loss": round(scores["course_loss"], 5),
                              "knn_accuracy": probes["knn_accuracy"], "fit_seconds": round(seconds, 1)}), flush=True)


if __name__ == "__main__":
    run(main)
