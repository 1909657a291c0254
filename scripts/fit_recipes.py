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

import torch

from vadlib.pipeline import artifacts as paths
from vadlib.infra.cli import run
from vadlib.infra.config import load_params
from vadlib.infra.data import load_prepared
from vadlib.infra.io import load_tensors
from vadlib.studies.proxy import fit_and_score


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
        model = load_tensors(paths.model(variant))
        for recipe in args.recipes:
            init, lr, epochs, *beta = recipe.split(":")
            fit = dataclasses.replace(cfg.fit, init=init, lr=float(lr), epochs=int(epochs))
            vcfg = dataclasses.replace(cfg.variant(variant), **({"beta": float(beta[0])} if beta else {}))
            recipe_cfg = dataclasses.replace(cfg, variants={**cfg.variants, variant: vcfg})
            scores = fit_and_score(model, recipe_cfg, variant, train, test["images"], cpu, fit, test["labels"])
            print(json.dumps({"variant": variant, "init": init, "lr": float(lr), "epochs": int(epochs),
                              "fit_beta": vcfg.beta, "test_course_loss": round(scores["test_course_loss"], 5),
                              "knn_accuracy": scores["knn_accuracy"],
                              "fit_seconds": round(scores["fit_seconds"], 1)}), flush=True)


if __name__ == "__main__":
    run(main)
