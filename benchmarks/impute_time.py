"""What the imputation stages add to `dvc repro`: the work of `impute@<variant>` (codes fitted on the observed pixels
for every condition, decodes, a VAD's completions, the scores, the figure) for each variant, and of
`impute_baselines`, at the params' `impute` and `fit` settings, timed in this process.

Uses models/<variant>.pt, data/fitted/<variant>.pt and models/evaluator.pt where they exist; otherwise a random-init
decoder of the params' size with `data.n_train` random train codes, random codes standing in for the fitted ones and
a random-init evaluator (fitting costs the same whatever the weights: the epochs and batches are fixed). Test and
train images from data/prepared/ when present, else random pixels. Writes results.json and results.md to --out
(default benchmarks/runs/<date>-<cpu>-impute-time/).

    .venv/bin/python benchmarks/impute_time.py [--variants ad normal] [--set impute.n_images=100 ...] [--threads 1]
                                               [--out DIR]
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vadlib.core.distributions import get_distribution  # noqa: E402
from vadlib.core.models import Decoder  # noqa: E402
from vadlib.infra.config import load_params, parse_params  # noqa: E402
from vadlib.infra.figures import image_grid, save_figure  # noqa: E402
from vadlib.infra.io import load_tensors, write_json, write_text  # noqa: E402
from vadlib.infra.machine import cpu_model  # noqa: E402
from vadlib.infra.overrides import add_set_option, with_overrides  # noqa: E402
from vadlib.infra.runtime import describe, generator, resolve_device  # noqa: E402
from vadlib.measure.evaluator import EvaluatorNet, load_evaluator  # noqa: E402
from vadlib.pipeline import artifacts  # noqa: E402
from vadlib.pipeline.checkpoint import as_trained, load_fitted, load_trained  # noqa: E402
from vadlib.pipeline.fit import fit_splits  # noqa: E402
from vadlib.pipeline.impute import impute_variant  # noqa: E402
from vadlib.pipeline.impute_baselines import impute_baselines  # noqa: E402


def images(path: Path, n: int, seed: int) -> tuple[dict, str]:
    if (ROOT / path).exists():
        return load_tensors(ROOT / path), str(path)
    gen = torch.Generator().manual_seed(seed)
    return {"images": torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=gen),
            "labels": torch.arange(n) % 10}, "random pixels"


def stand_in(cfg, variant: str, device: torch.device):
    """(trained, fitted test codes, what they are): the real model when its files exist, else a random-init one."""
    model, fitted = ROOT / artifacts.model(variant), ROOT / artifacts.fitted(variant)
    if model.exists() and fitted.exists():
        return load_trained(model, device), load_fitted(fitted)["test"], "trained model"
    dist = get_distribution(cfg.variant(variant).distribution)
    torch.manual_seed(0)
    decoder = Decoder(cfg.model.latent_dim, cfg.model.channels)
    v = cfg.variant(variant)
    codes = dist.init(cfg.data.n_train + cfg.data.n_test, cfg.model.latent_dim, v.init_scale, v.init_width,
                      generator(0, f"bench/{variant}"))
    checkpoint = {"distribution": dist.name, "architecture": decoder.architecture(), "decoder": decoder.state_dict(),
                  "latents": codes[:cfg.data.n_train]}
    return as_trained(checkpoint, device), codes[cfg.data.n_train:], "random-init decoder"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", nargs="*", help="variants to time (default: every variant in params.yaml)")
    add_set_option(ap)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int,
                    help="torch threads (default: torch's, as a stage gets); 1 resists other jobs on a shared machine "
                         "(2 threads on 2 busy cores wait on each other)")
    ap.add_argument("--no-reference", action="store_true",
                    help="skip timing the fit stage's work for the first variant (the reference the figures divide by)")
    ap.add_argument("--out", help="output folder (default: benchmarks/runs/<date>-<cpu>-impute-time/)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = parse_params(with_overrides(load_params(ROOT / "params.yaml").to_dict(), args.settings))
    device = resolve_device(args.device)
    test, test_source = images(artifacts.TEST_DATA, cfg.data.n_test, 2)
    train, _ = images(artifacts.TRAIN_DATA, cfg.data.n_train, 0)
    if (ROOT / artifacts.EVALUATOR).exists():
        evaluator, evaluator_source = load_evaluator(ROOT / artifacts.EVALUATOR, device)[0], "trained evaluator"
    else:
        torch.manual_seed(0)
        evaluator, evaluator_source = EvaluatorNet().to(device).eval(), "random-init evaluator"
    rows, load_before = {}, os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        for variant in args.variants or list(cfg.variants):
            trained, fitted_test, source = stand_in(cfg, variant, device)
            start = time.perf_counter()
            _, _, figure, labels = impute_variant(trained, test, fitted_test, evaluator, cfg, variant, progress=False)
            save_figure(image_grid(figure, variant, labels), Path(tmp) / f"{variant}.png")
            rows[f"impute@{variant}"] = {"seconds": round(time.perf_counter() - start, 2), "model": source}
        start = time.perf_counter()
        impute_baselines(train, test, evaluator, cfg)
        rows["impute_baselines"] = {"seconds": round(time.perf_counter() - start, 2), "model": "none"}
    reference = None
    if not args.no_reference:  # the fit stage's work for one variant, same process and load: the cost as a ratio
        variant = (args.variants or list(cfg.variants))[0]
        trained, _, source = stand_in(cfg, variant, device)
        start = time.perf_counter()
        fit_splits(trained.decoder, cfg.variant(variant), cfg.fit, {"test": test}, cfg.seed, variant, progress=False,
                   train_params=trained.train_params)
        reference = {"stage": f"fit@{variant}", "seconds": round(time.perf_counter() - start, 2), "model": source,
                     "images": int(test["images"].shape[0])}
    ic = cfg.impute
    result = {
        "stages": rows, "total_seconds": round(sum(r["seconds"] for r in rows.values()), 2),
        "reference": reference,
        "impute": {"n_images": ic.n_images, "ratios": list(ic.ratios), "masks": list(ic.masks),
                   "samples": ic.samples, "knn_k": ic.knn_k},
        "fit": {"epochs": cfg.fit.epochs, "batch_size": cfg.fit.batch_size, "init": cfg.fit.init},
        "test_images": test_source, "evaluator": evaluator_source, "overrides": args.settings,
        "device": describe(device), "cpu": cpu_model(), "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
        "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "date": time.strftime("%Y-%m-%d"),
        "command": "benchmarks/impute_time.py " + " ".join(sys.argv[1:]),
    }
    slug = re.sub(r"[^a-z0-9]+", "-", re.sub(r"\((r|tm)\)|\bprocessor\b|\bcpu\b", " ", cpu_model().lower())).strip("-")
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "runs" / f"{result['date']}-{slug}-impute-time"
    conditions = len(ic.ratios) + len(ic.masks)
    lines = [f"# Imputation stages' wall time ({result['date']}, {result['cpu']}, {result['device']}, "
             f"{result['torch_threads']} torch threads)", "",
             f"`{result['command']}`; {ic.n_images} test images x {conditions} conditions "
             f"(ratios {list(ic.ratios)}, masks {list(ic.masks)}), fit {cfg.fit.epochs} epochs, batch "
             f"{cfg.fit.batch_size}, {ic.samples} completions per VAD image, k-NN k={ic.knn_k}; test images: "
             f"{test_source}; 1-min load average {result['load_average_1min']['before']} before, "
             f"{result['load_average_1min']['after']} after (other jobs share the machine).", "",
             "| stage | seconds | model |", "|---|---|---|",
             *(f"| {name} | {r['seconds']} | {r['model']} |" for name, r in rows.items()),
             f"| **total** | **{result['total_seconds']}** | |", ""]
    if reference:
        ratio = result["total_seconds"] / reference["seconds"]
        result["total_over_reference"] = round(ratio, 3)
        lines += [f"Reference, same process and load: the `{reference['stage']}` stage's work "
                  f"({reference['images']} test images, {cfg.fit.epochs} epochs) took {reference['seconds']} s; the "
                  f"imputation stages together cost {ratio:.2f}x that.", ""]
    write_json(out / "results.json", result)
    write_text(out / "results.md", "\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {out / 'results.json'} and results.md")


if __name__ == "__main__":
    main()
