"""Quick tuning proxy: train one variant and fit the first N test images, print test/train course_loss.

Cheaper than `dvc exp run` (no refit of the train set, no t-SNE or figures, a test subset), so a sweep over one
setting takes minutes. Settings use params.yaml's names, e.g.:

    .venv/bin/python scripts/tune_one.py normal --n-test 500 train.weight_decay=2.0 variants.normal.beta=0.001
"""
from __future__ import annotations

import argparse
import json
import time

import torch
import yaml

from vadlib.checkpoint import load_decoder
from vadlib.cli import run
from vadlib.config import load_params, parse_params
from vadlib.data import load_split, select_subset
from vadlib.device import resolve_device
from vadlib.distributions import get_distribution
from vadlib.fit import fit_latents
from vadlib.metrics import reconstruction_metrics
from vadlib.models import decode_images
from vadlib.train import train_variant


def override(raw: dict, assignment: str) -> None:
    key, _, value = assignment.partition("=")
    *parents, leaf = key.split(".")
    node = raw
    for name in parents:
        node = node[name]
    node[leaf] = yaml.safe_load(value)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("variant")
    ap.add_argument("settings", nargs="*", help="dotted.key=value overrides of params.yaml")
    ap.add_argument("--n-test", type=int, default=500)
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_intermixed_args()
    raw = yaml.safe_load(open(args.params))
    for s in args.settings:
        override(raw, s)
    cfg = parse_params(raw)
    load_params(args.params)  # the file itself must be valid too
    device = resolve_device(cfg.device)
    root = cfg.data.resolved_root
    (x, y), (xt, _) = load_split(root, "train"), load_split(root, "test")
    idx = select_subset(y, cfg.data.n_train, cfg.data.subset, cfg.seed)
    start = time.perf_counter()
    result = train_variant(cfg, args.variant, {"images": x[idx], "labels": y[idx], "indices": idx}, device,
                           progress=False)
    decoder = load_decoder(result, device)
    vcfg = cfg.variant(args.variant)
    params, _ = fit_latents(decoder, vcfg, cfg.fit, xt[:args.n_test], cfg.seed, f"fit/test/{args.variant}",
                            progress=False)
    dist = get_distribution(vcfg.distribution)
    test = reconstruction_metrics(xt[:args.n_test], decode_images(decoder, dist.mean(params)))["course_loss"]
    train = reconstruction_metrics(x[idx], decode_images(decoder, dist.mean(result["latents"])))["course_loss"]
    print(json.dumps({"variant": args.variant, "settings": args.settings, "n_test": args.n_test,
                      "test_course_loss": round(test, 5), "train_course_loss": round(train, 5),
                      "seconds": round(time.perf_counter() - start)}))


if __name__ == "__main__":
    run(main)
