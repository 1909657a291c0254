"""Quick tuning proxy: train one variant, fit the first N test images, print test/train course_loss and the 5-NN probe.

Cheaper than `dvc exp run` (no refit of the train set, no t-SNE or figures, a test subset), so a sweep over one
setting takes minutes. Settings use params.yaml's names, e.g.:

    .venv/bin/python scripts/tune_one.py normal --n-test 500 train.weight_decay=2.0 variants.normal.beta=0.001
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from vadlib.infra.cli import run
from vadlib.infra.config import load_params, parse_params
from vadlib.infra.runtime import resolve_device, set_precision
from vadlib.studies.proxy import apply_override, course_data, train_fit_score


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("variant")
    ap.add_argument("settings", nargs="*", help="dotted.key=value overrides of params.yaml")
    ap.add_argument("--n-test", type=int, default=500)
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_intermixed_args()
    raw = yaml.safe_load(Path(args.params).read_text())
    for s in args.settings:
        apply_override(raw, s)
    cfg = parse_params(raw)
    load_params(args.params)  # the file itself must be valid too
    set_precision(cfg.precision)
    data, test_images, test_labels = course_data(cfg, args.n_test)
    scores = train_fit_score(cfg, args.variant, data, test_images, resolve_device(cfg.device), test_labels)
    print(json.dumps({"variant": args.variant, "settings": args.settings, "n_test": args.n_test,
                      **{k: round(v, 5) for k, v in scores.items()}}))


if __name__ == "__main__":
    run(main)
