"""Run-to-run noise: retrain one variant with other seeds and measure the spread of the report's headline figures.

The report calls a difference between distributions real only if it exceeds this spread. Reuses the pipeline's
prepared data and evaluator network (the measuring instrument stays fixed), trains, fits the test images and
evaluates exactly as `dvc repro` does, and takes seed 0 from the committed metrics file. About 4 minutes per seed:

    .venv/bin/python scripts/seed_noise.py normal --seeds 1 2      # writes reports/seed_noise.json
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics

from vadlib.infra import paths
from vadlib.infra.cli import run
from vadlib.infra.config import load_params
from vadlib.infra.data import load_prepared
from vadlib.infra.io import read_json, write_json
from vadlib.infra.runtime import describe, resolve_device
from vadlib.workflows.checkpoint import Trained, load_decoder
from vadlib.workflows.evaluate import evaluate_variant
from vadlib.workflows.evaluator import held_out_images, load_evaluator
from vadlib.workflows.fit import fit_splits
from vadlib.workflows.train import train_variant
from vadlib.core.distributions import get_distribution

HEADLINES = {  # report key -> how to read it from a metrics file
    "test.course_loss": lambda m: m["test"]["course_loss"],
    "best_fd": lambda m: m["samples"][m["best_sampler"]["name"]]["fd"],
    "best_recognisable": lambda m: m["samples"][m["best_sampler"]["name"]]["recognisable"],
    "latent.knn_accuracy": lambda m: m["latent"]["knn_accuracy"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("variant")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    base = load_params(args.params)
    device = resolve_device(base.device)
    train_data, test_data = load_prepared(paths.TRAIN_DATA), load_prepared(paths.TEST_DATA)
    evaluator, val_rows = load_evaluator(paths.EVALUATOR, device)
    held_out = held_out_images(load_prepared(paths.POOL_DATA), val_rows)
    values = {key: [read(read_json(paths.metrics(args.variant)))] for key, read in HEADLINES.items()}
    for seed in args.seeds:
        cfg = dataclasses.replace(base, seed=seed, fit=dataclasses.replace(base.fit, refit_train=False))
        model, _ = train_variant(cfg, args.variant, train_data, device)
        trained = Trained(model, load_decoder(model, device), get_distribution(model["distribution"]))
        fitted, *_ = fit_splits(trained.decoder, cfg.variant(args.variant), cfg.fit, {"test": test_data}, seed,
                                args.variant, train_params=trained.train_params)
        m = evaluate_variant(trained, fitted, train_data, test_data, held_out, evaluator, cfg, args.variant)
        for key, read in HEADLINES.items():
            values[key].append(read(m))
        print(f"seed {seed}: " + ", ".join(f"{k} {v[-1]:.4f}" for k, v in values.items()))
    write_json(paths.SEED_NOISE, {
        "variant": args.variant, "seeds": [base.seed, *args.seeds],
        "command": f"python scripts/seed_noise.py {args.variant} --seeds {' '.join(map(str, args.seeds))}",
        "values": values, "std": {k: statistics.stdev(v) for k, v in values.items()}, "device": describe(device),
    })
    print(f"wrote {paths.SEED_NOISE}")


if __name__ == "__main__":
    run(main)
