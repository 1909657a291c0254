"""Tuning proxies: one variant trained under some `--set` settings, then scored cheaply (`run`) or by the whole
`evaluate` stage (`evaluate`); one JSON line each, for sweeps that rank settings before a `dvc exp run` confirms one.

    python scripts/study.py tune run normal --n-val 500 --set train.weight_decay=2.0 --set variants.normal.beta=0.001
    python scripts/study.py tune evaluate normal --set variants.normal.beta=0.0002 --temperatures 1.0 0.9

`run` trains, fits the first N test images and prints test/train course_loss and the 5-NN probe: cheaper than
`dvc exp run` (no refit of the train set, no t-SNE or figures, a test subset), so a sweep over one setting takes
minutes. `evaluate` is the same for the sample and latent figures (best sampler's FD and recognisable rate, class
balance, the no-copy gate, the 5-NN probe), at each sampler temperature asked for; it reuses the pipeline's prepared
data and evaluator network (`dvc repro prepare evaluator` first; the measuring instrument stays fixed), so settings
that change `data` or `evaluator` are refused.
"""
from __future__ import annotations

import dataclasses
import json
import time

from ..infra.config import load_params
from ..infra.overrides import add_set_option
from ..infra.runtime import resolve_device, set_precision
from .proxy import (committed_inputs, configured, headline, refuse_changed_inputs, train_and_fit_test,
                    train_fit_score, validation_data)


def run(variant: str, settings: list[str], n_val: int = 500, params: str = "params.yaml") -> dict:
    """Train `variant` under `settings`, fit the first `n_val` validation images (never a test image), score both
    splits; prints one JSON line (`val_*`: the validation images, fitted as `fit` fits the test images)."""
    cfg = configured(params, settings)
    set_precision(cfg.precision)
    data, val_images, val_labels = validation_data(cfg, n_val)
    scores = train_fit_score(cfg, variant, data, val_images, resolve_device(cfg.device), val_labels)
    line = {"variant": variant, "settings": settings, "n_val": n_val,
            **{k.replace("test_", "val_", 1): round(v, 5) for k, v in scores.items()}}
    print(json.dumps(line))
    return line


def evaluate(variant: str, settings: list[str], temperatures: list[float] | None = None,
             params: str = "params.yaml") -> list[dict]:
    """Train `variant` under `settings`, fit the test images and run the `evaluate` stage's whole measurement at each
    sampler temperature (default: the params' own); prints one JSON line per temperature."""
    from ..pipeline.evaluate import evaluate_variant

    cfg = configured(params, settings)
    refuse_changed_inputs(cfg, load_params(params), "`tune evaluate`")
    set_precision(cfg.precision)
    device = resolve_device(cfg.device)
    train_data, val_data, evaluator, held_out = committed_inputs(device, "validation")
    start = time.perf_counter()
    trained, fitted = train_and_fit_test(cfg, variant, train_data, val_data, device)
    train_fit_seconds = time.perf_counter() - start
    lines = []
    for t in temperatures or [cfg.samplers.temperature]:
        tcfg = dataclasses.replace(cfg, samplers=dataclasses.replace(cfg.samplers, temperature=t))
        m = evaluate_variant(trained, fitted, train_data, val_data, held_out, evaluator, tcfg, variant)
        lines.append({"variant": variant, "settings": settings, "temperature": t,
                      **{k: round(v, 5) if isinstance(v, float) else v for k, v in headline(m).items()},
                      "train_fit_seconds": round(train_fit_seconds, 1)})
        print(json.dumps(lines[-1]), flush=True)
    return lines


def register(parser) -> None:
    """`scripts/study.py tune run|evaluate`."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run_p = sub.add_parser("run", help="train, fit the first N test images, print course_loss and the 5-NN probe")
    run_p.add_argument("--n-val", type=int, default=500, help="validation images to fit (default: %(default)s)")
    run_p.set_defaults(func=lambda a: run(a.variant, a.settings, a.n_val, a.params))
    ev_p = sub.add_parser("evaluate", help="train, fit the test images, run the evaluate stage's whole measurement")
    ev_p.add_argument("--temperatures", type=float, nargs="+", default=None,
                      help="sampler temperatures to evaluate the one trained model at (default: the params' own)")
    ev_p.set_defaults(func=lambda a: evaluate(a.variant, a.settings, a.temperatures, a.params))
    for p in (run_p, ev_p):
        p.add_argument("variant", help="a key of `variants` in params.yaml")
        add_set_option(p)
        p.add_argument("--params", default="params.yaml")
