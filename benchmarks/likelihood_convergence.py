"""Is K enough, and which proposal fit? The importance-sampled log p(x) of the pipeline's models at K and 5K draws.

    .venv/bin/python benchmarks/likelihood_convergence.py [--images 10] [--out benchmarks/runs/<folder>]
    .venv/bin/python benchmarks/likelihood_convergence.py --choose [--images 10] [--out ...]

Reads the committed models and fitted codes (`dvc repro` or `dvc pull` first) and the params' `evaluate` settings.
Default: fits each of the first `--images` *test* images' proposal as the evaluate stage does, estimates log p(x)
with K = evaluate.likelihood_samples and with 5K draws (another seeded stream), and writes convergence.json and
convergence.md: per variant the mean and largest per-image gap. `bits/dim` is a mean over images, so the check is the
mean gap in bits/dim against the study's equivalence margin for bits/dim (MARGINS in vadlib/studies/table.py).
`--choose`: the same on the first *train* images (their learned codes as the start) for a grid of proposal fits
(steps, Adam lr), writing choice.json / choice.md; the pipeline's setting is picked from it, never from test images.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vadlib.infra.config import load_params  # noqa: E402
from vadlib.infra.data import load_prepared  # noqa: E402
from vadlib.infra.io import read_json, write_text  # noqa: E402
from vadlib.infra.machine import cpu_model  # noqa: E402
from vadlib.infra.markdown import table  # noqa: E402
from vadlib.measure import likelihood as lk  # noqa: E402
from vadlib.pipeline import artifacts  # noqa: E402
from vadlib.pipeline.checkpoint import open_variant  # noqa: E402
from vadlib.pipeline.evaluate import decode_means, likelihood_model, likelihood_proposal  # noqa: E402
from vadlib.studies.table import MARGINS  # noqa: E402

MARGIN = MARGINS["test_bits_per_dim"]
GRID = ((200, 0.05), (600, 0.05), (400, 0.02), (800, 0.01))  # (steps, lr) tried by --choose


def _gap(model, proposal, images, k, factor, seed) -> dict:
    small = lk.log_likelihood(model, proposal, images, k, seed)
    large = lk.log_likelihood(model, proposal, images, factor * k, seed + 1000)
    gap = large - small
    n_dims = images[0].numel()
    return {"log_px_k": float(small.mean()), "log_px_k_large": float(large.mean()), "mean_gap": float(gap.mean()),
            "mean_gap_bits_per_dim": float(gap.mean()) / (n_dims * math.log(2)), "max_abs_gap": float(gap.abs().max())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=10)
    ap.add_argument("--factor", type=int, default=5)
    ap.add_argument("--choose", action="store_true", help="train images, a grid of proposal fits")
    ap.add_argument("--out", default=f"benchmarks/runs/{time.strftime('%Y-%m-%d')}-likelihood-convergence")
    args = ap.parse_args()
    cfg = load_params("params.yaml")
    k = cfg.evaluate.likelihood_samples
    train = load_prepared(artifacts.TRAIN_DATA)
    test = load_prepared(artifacts.TEST_DATA)
    out = {"command": "python benchmarks/likelihood_convergence.py " + " ".join(sys.argv[1:]), "cpu": cpu_model(),
           "images": args.images, "k": k, "k_large": args.factor * k, "margin_bits_per_dim": MARGIN, "rows": []}
    for variant in cfg.variants:
        _, trained, fitted = open_variant(cfg, variant)
        decoded = decode_means(trained, fitted)["train"]
        mse = read_json(artifacts.metrics(variant))["train"]["mse"]  # as the evaluate stage computed it
        model = likelihood_model(trained, train, decoded, mse, cfg.variant(variant).beta)
        if args.choose:
            images = train["images"][:args.images]
            start = trained.dist.mean(trained.train_params[:args.images])
            for steps, lr in GRID:
                clock = time.perf_counter()
                proposal = lk.fit_proposal(model, start, images, steps, seed=5, lr=lr)
                row = {"variant": variant, "steps": steps, "lr": lr,
                       **_gap(model, proposal, images, k, args.factor, 11),
                       "seconds": round(time.perf_counter() - clock, 1)}
                out["rows"].append(row)
                print(json.dumps(row), flush=True)
            continue
        images, params = test["images"][:args.images], fitted["test"][:args.images]
        clock = time.perf_counter()
        proposal, seed = likelihood_proposal(model, trained, params, images, cfg, variant)
        row = {"variant": variant, "steps": cfg.evaluate.likelihood_proposal_steps, "lr": lk.PROPOSAL_LR,
               **_gap(model, proposal, images, k, args.factor, seed), "seconds": round(time.perf_counter() - clock, 1)}
        out["rows"].append(row)
        print(json.dumps(row), flush=True)
    name = "choice" if args.choose else "convergence"
    folder = Path(args.out)
    write_text(folder / f"{name}.json", json.dumps(out, indent=2) + "\n")
    rows = [[r["variant"], str(r["steps"]), f"{r['lr']:g}", f"{r['log_px_k']:.2f}", f"{r['log_px_k_large']:.2f}",
             f"{r['mean_gap']:+.2f}", f"{r['mean_gap_bits_per_dim']:+.4f}", f"{r['max_abs_gap']:.2f}",
             "yes" if abs(r["mean_gap_bits_per_dim"]) < MARGIN else "**no**"] for r in out["rows"]]
    what = ("train images (their learned codes as the start), per proposal fit" if args.choose else
            "test images, the evaluate stage's proposal fit")
    write_text(folder / f"{name}.md", "\n".join([
        "# Importance-sampled log p(x): K against 5K draws", "",
        f"`{out['command']}` on {out['cpu']}: the first {args.images} {what}; log p(x) in nats per image (mean), "
        f"K = {k} and {args.factor * k}. The estimate is a lower bound that rises with K; bits/dim is a mean over "
        f"images, so the mean gap is held against the bits/dim equivalence margin ({MARGIN}).", "",
        *table(["variant", "fit steps", "lr", f"K = {k}", f"K = {args.factor * k}", "mean gap (nats)",
                "mean gap (bits/dim)", "largest |gap| (nats)", f"mean gap < {MARGIN} bits/dim"], rows), ""]))


if __name__ == "__main__":
    main()
