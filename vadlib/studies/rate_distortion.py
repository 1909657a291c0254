"""Rate-distortion study: a beta sweep of the three VAD distributions as queued DVC experiments, then a report.

    python scripts/study.py rate-distortion queue    # queue the grid (dvc exp run --queue -S ...), start 1 worker,
                                                     # wait until every experiment has finished
    python scripts/study.py rate-distortion report   # dvc exp show --json -> reports/rate_distortion.md + figure

One experiment per beta sets the same beta for normal, uniform and laplace (one retrain of all variants per beta,
rather than one per distribution and beta) with shorter training and fitting (SWEEP below) so the whole grid runs in
well under an hour on 2 CPU cores; its figures are therefore comparable with each other, not with the default run.
Experiments hang off the commit they were queued from; `dvc exp remove --rev HEAD -A` clears them.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..infra.experiments import dvc, export_absolute_data_root, wait_for_queue
from ..infra.markdown import fixed, table

BETAS = [0.0002, 0.002, 0.02, 0.2]  # log-spaced around the default 0.002; ~8 min each on 2 CPU cores
DISTRIBUTIONS = ["normal", "uniform", "laplace"]
SWEEP = {"train.epochs": 40, "fit.epochs": 40, "fit.refit_train": "false", "tsne.max_iter": 250}
PREFIX = "rd-beta-"
OUT = Path("reports/rate_distortion.md")
FIGURES = Path("reports/figures")
COMMAND = "python scripts/study.py rate-distortion"
HEAD = ("distribution", "beta", "rate: test KL (nats)", "test MSE", "test course_loss", "best sampler", "best FD",
        "best recognisable", "5-NN probe", "active units")


def settings(beta: float) -> list[str]:
    """One experiment's `-S` settings: `beta` for every distribution, and the sweep's shorter lengths."""
    return [f"variants.{d}.beta={beta}" for d in DISTRIBUTIONS] + [f"{k}={v}" for k, v in SWEEP.items()]


def queue() -> None:
    export_absolute_data_root()
    for beta in BETAS:
        dvc("exp", "run", "--queue", "-n", f"{PREFIX}{beta}", *(a for s in settings(beta) for a in ("-S", s)))
    dvc("queue", "start", "-j", "1")
    print(wait_for_queue())


def experiments(shown: list) -> dict[float, dict]:
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


def points(exps: dict[float, dict]) -> list[dict]:
    """One point per (beta, distribution) with metrics: rate (test KL), distortion (test MSE) and the rest."""
    out = []
    for beta, e in exps.items():
        for d in DISTRIBUTIONS:
            m = e["metrics"].get(f"metrics/variants/{d}.json")
            if not m:
                continue
            best = m["best_sampler"]["name"]
            row = m["samples"].get(best, {})
            out.append({"distribution": d, "beta": beta, "kl": m["test"]["kl"], "mse": m["test"]["mse"],
                        "course_loss": m["test"]["course_loss"], "best": best, "fd": row.get("fd"),
                        "recognisable": row.get("recognisable"), "knn": m["latent"]["knn_accuracy"],
                        "active_units": m["latent"]["active_units"]})
    return out


def markdown_table(pts: list[dict]) -> list[str]:
    return table(HEAD, ([p["distribution"], f"{p['beta']:g}", fixed(p["kl"], 1), fixed(p["mse"], 5),
                         fixed(p["course_loss"], 4), p["best"], fixed(p["fd"], 2), fixed(p["recognisable"], 3),
                         fixed(p["knn"], 3), str(p["active_units"])] for p in pts))


def figure(pts: list[dict], path: Path) -> None:
    import matplotlib.pyplot as plt

    from ..infra.figures import save_figure

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for d in DISTRIBUTIONS:
        mine = [p for p in pts if p["distribution"] == d]
        ax1.plot([p["kl"] for p in mine], [p["mse"] for p in mine], "o-", label=d)
        for p in mine:
            ax1.annotate(f"{p['beta']:g}", (p["kl"], p["mse"]), fontsize=7)
        ax2.plot([p["beta"] for p in mine], [float("nan") if p["fd"] is None else p["fd"] for p in mine], "o-",
                 label=d)
    ax1.set(xlabel="rate: mean KL of the fitted test codes (nats)", ylabel="distortion: test MSE",
            title="Rate vs distortion (labels: beta)")
    ax2.set(xscale="log", xlabel="beta", ylabel="best-sampler FD (lower is better)", title="Sample quality vs beta")
    for ax in (ax1, ax2):
        ax.legend()
    save_figure(fig, path)


def report_text(pts: list[dict], figure_link: str = "figures/rate_distortion.png") -> str:
    sweep = " ".join(f"-S {k}={v}" for k, v in SWEEP.items())
    return "\n".join([
        "# Rate-distortion: what the KL weight trades, per distribution", "",
        f"Written by `{COMMAND} report` from `dvc exp show --json`. The experiments were "
        f"queued and run with `{COMMAND} queue`, i.e. for each beta in "
        f"{', '.join(map(str, BETAS))}:", "",
        "```bash",
        f"dvc exp run --queue -n {PREFIX}<beta> " + " ".join(f"-S variants.{d}.beta=<beta>" for d in DISTRIBUTIONS)
        + f" {sweep}",
        "dvc queue start -j 1",
        "```", "",
        f"Shortened training ({SWEEP['train.epochs']} epochs) and fitting ({SWEEP['fit.epochs']} epochs) keep the "
        "grid under an hour on 2 CPU cores, so the figures compare betas and distributions with each other, not with "
        "the default run in report.md.", "",
        f"![rate-distortion]({figure_link})", "",
        *markdown_table(pts), "",
    ]) + "\n"


def report(out: Path = OUT, figures: Path = FIGURES) -> None:
    from ..infra.io import write_text

    exps = experiments(json.loads(dvc("exp", "show", "--json", "--all-commits").stdout))
    if not exps:
        raise SystemExit(f"error: no experiments named {PREFIX}<beta> in `dvc exp show`; run `queue` first")
    pts, fig_path = points(exps), Path(figures) / "rate_distortion.png"
    figure(pts, fig_path)
    write_text(out, report_text(pts, Path(os.path.relpath(fig_path, Path(out).parent)).as_posix()))
    print(f"wrote {out} and {fig_path}")


def register(parser) -> None:
    """`scripts/study.py rate-distortion queue|report`."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("queue", help="queue one experiment per beta, run them one at a time, wait").set_defaults(
        func=lambda a: queue())
    p = sub.add_parser("report", help=f"the finished experiments -> {OUT} and its figure")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--figures", type=Path, default=FIGURES)
    p.set_defaults(func=lambda a: report(a.out, a.figures))
