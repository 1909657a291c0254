"""Full-evaluation tuning proxy: train one variant under some settings, fit the test images, run the `evaluate`
stage's whole measurement, print one JSON line of headline figures per sampler temperature.

What `tune_one.py` is for the reconstruction, this is for the sample and latent figures (best sampler's FD and
recognisable rate, class balance, the no-copy gate, the 5-NN probe). It reuses the pipeline's prepared data and evaluator network
(`dvc repro prepare evaluator` first; the measuring instrument stays fixed), so settings that change the data are
refused. Settings use params.yaml's names:

    .venv/bin/python scripts/evaluate_one.py normal variants.normal.beta=0.0002 --temperatures 1.0 0.9
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import yaml

from vadlib.infra.cli import run
from vadlib.infra.config import load_params, parse_params
from vadlib.infra.errors import ConfigError
from vadlib.infra.runtime import resolve_device, set_precision
from vadlib.pipeline.evaluate import evaluate_variant
from vadlib.studies.proxy import apply_override, committed_inputs, headline, train_and_fit_test


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("variant")
    ap.add_argument("settings", nargs="*", help="dotted.key=value overrides of params.yaml")
    ap.add_argument("--temperatures", type=float, nargs="+", default=None,
                    help="sampler temperatures to evaluate the one trained model at (default: the params' own)")
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_intermixed_args()
    base = load_params(args.params)
    raw = yaml.safe_load(Path(args.params).read_text())
    for s in args.settings:
        apply_override(raw, s)
    cfg = parse_params(raw)
    if cfg.data != base.data or cfg.evaluator != base.evaluator:
        raise ConfigError("evaluate_one.py reuses the prepared data and the evaluator: settings may not change "
                          "`data` or `evaluator` (use `dvc exp run -S ...` for those)")
    set_precision(cfg.precision)
    device = resolve_device(cfg.device)
    train_data, test_data, evaluator, held_out = committed_inputs(device)
    start = time.perf_counter()
    trained, fitted = train_and_fit_test(cfg, args.variant, train_data, test_data, device)
    train_fit_seconds = time.perf_counter() - start
    for t in args.temperatures or [cfg.samplers.temperature]:
        tcfg = dataclasses.replace(cfg, samplers=dataclasses.replace(cfg.samplers, temperature=t))
        m = evaluate_variant(trained, fitted, train_data, test_data, held_out, evaluator, tcfg, args.variant)
        print(json.dumps({"variant": args.variant, "settings": args.settings, "temperature": t,
                          **{k: round(v, 5) if isinstance(v, float) else v for k, v in headline(m).items()},
                          "train_fit_seconds": round(train_fit_seconds, 1)}), flush=True)


if __name__ == "__main__":
    run(main)
