"""Is K enough? The importance-sampled log p(x) of the pipeline's models at K and 5K draws per image, per variant.

    .venv/bin/python benchmarks/likelihood_convergence.py [--images 20] [--out benchmarks/runs/<folder>]

Reads the committed models and fitted codes (`dvc repro` or `dvc pull` first) and the params' `evaluate`
settings; estimates log p(x) of the first `--images` test images with K = evaluate.likelihood_samples and with 5K
draws (another seeded stream), and writes convergence.json and convergence.md: per variant the mean and largest
per-image gap in nats. The estimate is a lower bound that rises with K, so a gap under 0.5 nats says K suffices.
"""
from __future__ import annotations

import argparse
import json
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
from vadlib.pipeline.evaluate import decode_means, likelihood_model  # noqa: E402

TOLERANCE_NATS = 0.5


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--factor", type=int, default=5)
    ap.add_argument("--out", default=f"benchmarks/runs/{time.strftime('%Y-%m-%d')}-likelihood-convergence")
    args = ap.parse_args()
    cfg = load_params("params.yaml")
    k = cfg.evaluate.likelihood_samples
    train = load_prepared(artifacts.TRAIN_DATA)
    test = load_prepared(artifacts.TEST_DATA)
    rows, out = [], {"command": "python benchmarks/likelihood_convergence.py " + " ".join(sys.argv[1:]),
                     "cpu": cpu_model(), "images": args.images, "k": k, "k_large": args.factor * k, "variants": {}}
    for variant in cfg.variants:
        _, trained, fitted = open_variant(cfg, variant)
        decoded = decode_means(trained, fitted)["train"]
        mse = read_json(artifacts.metrics(variant))["train"]["mse"]  # as the evaluate stage computed it
        model, ad_std, seed = likelihood_model(trained, train, decoded, mse, cfg.variant(variant).beta, cfg, variant)
        images, params = test["images"][:args.images], fitted["test"][:args.images]
        start = time.perf_counter()
        small = lk.log_likelihood(model, params, images, k, seed, ad_std)
        large = lk.log_likelihood(model, params, images, args.factor * k, seed + 1, ad_std)
        gap = (large - small)
        out["variants"][variant] = {"log_px_k": float(small.mean()), "log_px_k_large": float(large.mean()),
                                    "mean_gap": float(gap.mean()), "max_abs_gap": float(gap.abs().max()),
                                    "seconds": round(time.perf_counter() - start, 1)}
        v = out["variants"][variant]
        rows.append([variant, f"{v['log_px_k']:.2f}", f"{v['log_px_k_large']:.2f}", f"{v['mean_gap']:+.3f}",
                     f"{v['max_abs_gap']:.3f}", "yes" if v["max_abs_gap"] < TOLERANCE_NATS else "**no**"])
        print(json.dumps({variant: v}), flush=True)
    folder = Path(args.out)
    write_text(folder / "convergence.json", json.dumps(out, indent=2) + "\n")
    write_text(folder / "convergence.md", "\n".join([
        "# Importance-sampled log p(x): K against 5K draws", "",
        f"`{out['command']}` on {out['cpu']}: the first {args.images} test images, log p(x) in nats per image "
        f"(mean), K = {k} and {args.factor * k}.", "",
        *table(["variant", f"K = {k}", f"K = {args.factor * k}", "mean gap", "largest |gap|",
                f"within {TOLERANCE_NATS} nats"], rows), ""]))


if __name__ == "__main__":
    main()
