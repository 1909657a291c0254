"""Fitting recipes on the committed models: fit the validation images under each recipe, print their course_loss
and 5-NN probe (the test images are scored once, by the pipeline, for the recipe chosen here).

    python scripts/study.py fit-recipes run ad,normal random:1.0:150 nearest:0.2:100 nearest:0.2:100:0 > out.jsonl

No training: every recipe refits the same `models/<variant>.pt` decoders (run `dvc repro` first), so one recipe
costs one fitting pass (~1-3 min per variant on 2 CPU cores). A recipe is init:lr:epochs[:beta] (beta: the KL /
code-penalty weight while fitting; default the variant's own, as in training): the campaign's grid, each one a set of
`fit` and `variants.<variant>.beta` values. Other params changes go through `--set` (not `data` or `evaluator`: the
committed models and prepared data are reused).
"""
from __future__ import annotations

import dataclasses
import json

import torch

from ..infra.config import load_params
from ..infra.data import load_prepared
from ..infra.errors import ConfigError
from ..infra.io import load_tensors
from ..infra.overrides import add_set_option
from ..pipeline import artifacts
from .proxy import configured, fit_and_score, refuse_changed_inputs


def parse_recipe(recipe: str) -> tuple[str, float, int, float | None]:
    """`init:lr:epochs[:beta]` -> (init, lr, epochs, beta or None)."""
    parts = recipe.split(":")
    try:
        if len(parts) not in (3, 4):
            raise ValueError
        return parts[0], float(parts[1]), int(parts[2]), float(parts[3]) if len(parts) == 4 else None
    except ValueError:
        raise ConfigError(f"recipe {recipe!r}: expected init:lr:epochs[:beta], e.g. nearest:0.2:100") from None


def run(variants: list[str], recipes: list[str], settings: list[str] = (), params: str = "params.yaml") -> list[dict]:
    """Fit the validation images under every recipe for every variant; one JSON line each."""
    cfg = configured(params, list(settings))
    refuse_changed_inputs(cfg, load_params(params), "`fit-recipes`")
    parsed = [parse_recipe(r) for r in recipes]  # every recipe checked before the first fit
    train, val = load_prepared(artifacts.TRAIN_DATA), load_prepared(artifacts.VAL_DATA)
    cpu = torch.device("cpu")
    lines = []
    for variant in variants:
        model = load_tensors(artifacts.model(variant))
        for init, lr, epochs, beta in parsed:
            fit = dataclasses.replace(cfg.fit, init=init, lr=lr, epochs=epochs)
            vcfg = dataclasses.replace(cfg.variant(variant), **({} if beta is None else {"beta": beta}))
            recipe_cfg = dataclasses.replace(cfg, variants={**cfg.variants, variant: vcfg})
            scores = fit_and_score(model, recipe_cfg, variant, train, val["images"], cpu, fit, val["labels"])
            lines.append({"variant": variant, "init": init, "lr": lr, "epochs": epochs, "fit_beta": vcfg.beta,
                          "val_course_loss": round(scores["test_course_loss"], 5),
                          "knn_accuracy": scores["knn_accuracy"], "fit_seconds": round(scores["fit_seconds"], 1)})
            print(json.dumps(lines[-1]), flush=True)
    return lines


def register(parser) -> None:
    """`scripts/study.py fit-recipes run`."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = sub.add_parser("run", help="refit the committed models' test codes under each recipe")
    p.add_argument("variants", help="comma-separated, e.g. ad,normal")
    p.add_argument("recipes", nargs="+", help="init:lr:epochs[:beta], e.g. nearest:0.2:100")
    add_set_option(p)
    p.add_argument("--params", default="params.yaml")
    p.set_defaults(func=lambda a: run(a.variants.split(","), a.recipes, a.settings, a.params))
