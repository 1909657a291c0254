"""Rate-distortion study: a beta sweep of the three VAD distributions as queued DVC experiments, then a report.

    .venv/bin/python scripts/rate_distortion.py queue    # queue the grid (dvc exp run --queue -S ...), start 1 worker,
                                                         # wait until every experiment has finished
    .venv/bin/python scripts/rate_distortion.py report   # dvc exp show --json -> reports/rate_distortion.md + figures

One experiment per beta sets the same beta for normal, uniform and laplace (one retrain of all variants per beta,
rather than one per distribution and beta) with shorter training and fitting (SWEEP below) so the whole grid runs in
well under an hour on 2 CPU cores; its figures are therefore comparable with each other, not with the default run.
Experiments hang off the commit they were queued from; `dvc exp remove --rev HEAD -A` clears them.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from vadlib.infra.experiments import dvc, export_absolute_data_root, wait_for_queue

BETAS = [0.0002, 0.002, 0.02, 0.2]  # log-spaced around the default 0.002; ~8 min each on 2 CPU cores
DISTRIBUTIONS = ["normal", "uniform", "laplace"]
SWEEP = {"train.epochs": 40, "fit.epochs": 40, "fit.refit_train": "false", "tsne.max_iter": 250}
PREFIX = "rd-beta-"
OUT = Path("reports/rate_distortion.md")
FIGURES = Path("reports/figures")


def queue() -> None:
    export_absolute_data_root()
    for beta in BETAS:
        sets = [f"variants.{d}.beta={beta}" for d in DISTRIBUTIONS] + [f"{k}={v}" for k, v in SWEEP.items()]
        dvc("exp", "run", "--queue", "-n", f"{PREFIX}{beta}", *(a for s in sets for a in ("-S", s)))
    dvc("queue", "start", "-j", "1")
    print(wait_for_queue())


def _experiments(shown: list) -> dict[float, dict]:
    """{beta: {"params": ..., "metrics": {path: data}}} for the sweep's experiments in `dvc exp show --json`."""
    out = {}
    for commit in shown:
        for exp in commit.get("experiments") or []:
            for rev in exp.get("revs", []):
                name = rev.get("name") or ""
                if not name.startswith(PREFIX) or not rev.get("data"):
                    continue
                data = rev["data"]
                params = data["params"]["params.yaml"]["data"]
                metrics = {path: m.get("data", {}) for path, m in (data.get("metrics") or {}).items()}
                out[float(name[len(PREFIX):])] = {"params": params, "metrics": metrics}
    return dict(sorted(out.items()))


def report() -> None:
    from vadlib.infra.figures import save_figure
    from vadlib.infra.io import write_text

    import matplotlib.pyplot as plt

    exps = _experiments(json.loads(dvc("exp", "show", "--json", "--all-commits").stdout))
    if not exps:
        raise SystemExit(f"error: no experiments named {PREFIX}<beta> in `dvc exp show`; run `queue` first")
    rows, curves = [], {d: [] for d in DISTRIBUTIONS}
    for beta, e in exps.items():
        for d in DISTRIBUTIONS:
            m = e["metrics"].get(f"metrics/variants/{d}.json")
            if not m:
                continue
            best = m["best_sampler"]["name"]
            fd = m["samples"][best]["fd"] if best in m["samples"] else None
            point = (beta, m["test"]["kl"], m["test"]["mse"], m["test"]["course_loss"], fd, best,
                     m["latent"]["knn_accuracy"], m["latent"]["active_units"])
            curves[d].append(point)
            recognisable = m["samples"][best]["recognisable"] if best in m["samples"] else None
            rows.append(f"| {d} | {beta:g} | {point[1]:.1f} | {point[2]:.5f} | {point[3]:.4f} | "
                        f"{best} | {'–' if fd is None else f'{fd:.2f}'} | "
                        f"{'–' if recognisable is None else f'{recognisable:.3f}'} | {point[6]:.3f} | {point[7]} |")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for d, pts in curves.items():
        ax1.plot([p[1] for p in pts], [p[2] for p in pts], "o-", label=d)
        for p in pts:
            ax1.annotate(f"{p[0]:g}", (p[1], p[2]), fontsize=7)
        ax2.plot([p[0] for p in pts], [p[4] if p[4] is not None else float("nan") for p in pts], "o-", label=d)
    ax1.set(xlabel="rate: mean KL of the fitted test codes (nats)", ylabel="distortion: test MSE",
            title="Rate vs distortion (labels: beta)")
    ax2.set(xscale="log", xlabel="beta", ylabel="best-sampler FD (lower is better)", title="Sample quality vs beta")
    for ax in (ax1, ax2):
        ax.legend()
    save_figure(fig, FIGURES / "rate_distortion.png")
    sweep = " ".join(f"-S {k}={v}" for k, v in SWEEP.items())
    write_text(OUT, "\n".join([
        "# Rate-distortion: what the KL weight trades, per distribution", "",
        "Written by `python scripts/rate_distortion.py report` from `dvc exp show --json`. The experiments were "
        "queued and run with `python scripts/rate_distortion.py queue`, i.e. for each beta in "
        f"{', '.join(map(str, BETAS))}:", "",
        "```bash",
        f"dvc exp run --queue -n {PREFIX}<beta> " + " ".join(f"-S variants.{d}.beta=<beta>" for d in DISTRIBUTIONS)
        + f" {sweep}",
        "dvc queue start -j 1",
        "```", "",
        f"Shortened training ({SWEEP['train.epochs']} epochs) and fitting ({SWEEP['fit.epochs']} epochs) keep the "
        "grid under an hour on 2 CPU cores, so the figures compare betas and distributions with each other, not with "
        "the default run in report.md.", "",
        "![rate-distortion](figures/rate_distortion.png)", "",
        "| distribution | beta | rate: test KL (nats) | test MSE | test course_loss | best sampler | best FD "
        "| best recognisable | 5-NN probe | active units |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows, "",
    ]) + "\n")
    print(f"wrote {OUT} and {FIGURES / 'rate_distortion.png'}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("action", choices=["queue", "report"])
    {"queue": queue, "report": report}[ap.parse_args().action]()
