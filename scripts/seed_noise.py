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

from vadlib.pipeline import artifacts as paths
from vadlib.infra.cli import run
from vadlib.infra.config import load_params
from vadlib.infra.io import read_json, write_json
from vadlib.infra.runtime import describe, resolve_device
from vadlib.pipeline.evaluate import evaluate_variant
from vadlib.studies.proxy import committed_inputs, headline, train_and_fit_test

HEADLINES = {  # report key -> proxy.headline key
    "test.course_loss": "test_course_loss",
    "best_fd": "best_fd",
    "best_recognisable": "recognisable",
    "latent.knn_accuracy": "knn_accuracy",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("variant")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    base = load_params(args.params)
    device = resolve_device(base.device)
    train_data, test_data, evaluator, held_out = committed_inputs(device)
    committed = headline(read_json(paths.metrics(args.variant)))
    values = {key: [committed[name]] for key, name in HEADLINES.items()}
    for seed in args.seeds:
        cfg = dataclasses.replace(base, seed=seed)
        trained, fitted = train_and_fit_test(cfg, args.variant, train_data, test_data, device, progress=True)
        m = evaluate_variant(trained, fitted, train_data, test_data, held_out, evaluator, cfg, args.variant)
        scores = headline(m)
        for key, name in HEADLINES.items():
            values[key].append(scores[name])
        print(f"seed {seed}: " + ", ".join(f"{k} {v[-1]:.4f}" for k, v in values.items()))
    write_json(paths.SEED_NOISE, {
        "variant": args.variant, "seeds": [base.seed, *args.seeds],
        "command": f"python scripts/seed_noise.py {args.variant} --seeds {' '.join(map(str, args.seeds))}",
        "values": values, "std": {k: statistics.stdev(v) for k, v in values.items()}, "device": describe(device),
    })
    print(f"wrote {paths.SEED_NOISE}")


if __name__ == "__main__":
    run(main)
