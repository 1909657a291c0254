"""Run-to-run noise: retrain one variant with other seeds and measure the spread of the report's headline figures.

    python scripts/study.py seed-noise run normal --seeds 1 2      # writes reports/seed_noise.json

The report calls a difference between distributions real only if it exceeds this spread. Reuses the pipeline's
prepared data and evaluator network (the measuring instrument stays fixed), trains, fits the test images and
evaluates exactly as `dvc repro` does, and takes the params' own seed from the committed metrics file. About 4
minutes per seed on 2 CPU cores.
"""
from __future__ import annotations

import dataclasses
import os
import statistics

from ..infra.config import load_params
from ..infra.io import read_json, write_json
from ..infra.runtime import describe, resolve_device
from ..pipeline import artifacts
from .proxy import committed_inputs, headline, train_and_fit_test

HEADLINES = {  # report key -> proxy.headline key
    "test.course_loss": "test_course_loss",
    "best_fd": "best_fd",
    "best_recognisable": "recognisable",
    "latent.knn_accuracy": "knn_accuracy",
}
COMMAND = "python scripts/study.py seed-noise run"


def run(variant: str, seeds: list[int], params: str = "params.yaml",
        out: str | os.PathLike = artifacts.SEED_NOISE) -> dict:
    from ..pipeline.evaluate import evaluate_variant

    base = load_params(params)
    device = resolve_device(base.device)
    train_data, test_data, evaluator, held_out = committed_inputs(device, "test")  # it re-measures the pipeline's own test figures
    committed = headline(read_json(artifacts.metrics(variant)))
    values = {key: [committed[name]] for key, name in HEADLINES.items()}
    for seed in seeds:
        cfg = dataclasses.replace(base, seed=seed)
        trained, fitted = train_and_fit_test(cfg, variant, train_data, test_data, device, progress=True)
        m = evaluate_variant(trained, fitted, train_data, test_data, held_out, evaluator, cfg, variant)
        scores = headline(m)
        for key, name in HEADLINES.items():
            values[key].append(scores[name])
        print(f"seed {seed}: " + ", ".join(f"{k} {v[-1]:.4f}" for k, v in values.items()))
    content = {
        "variant": variant, "seeds": [base.seed, *seeds],
        "command": f"{COMMAND} {variant} --seeds {' '.join(map(str, seeds))}",
        "values": values, "std": {k: statistics.stdev(v) for k, v in values.items()}, "device": describe(device),
    }
    write_json(out, content)
    print(f"wrote {out}")
    return content


def register(parser) -> None:
    """`scripts/study.py seed-noise run`."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = sub.add_parser("run", help=f"retrain one variant with other seeds, write {artifacts.SEED_NOISE}")
    p.add_argument("variant", help="a key of `variants` in params.yaml")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="seeds besides the params' own (default 1 2)")
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--out", default=str(artifacts.SEED_NOISE))
    p.set_defaults(func=lambda a: run(a.variant, a.seeds, a.params, a.out))
