"""The training recipe chosen again on the validation images, with the same search for every variant.

    python scripts/study.py recipe-search run          # resumable: appends to reports/recipe_search/runs.jsonl
    python scripts/study.py recipe-search report       # -> reports/recipe_search.md

Every variant (the AD and the three families) gets the same search: the current default at seeds 0, 1 and 2 (its
seed-to-seed noise on the validation images), and each single change of the settings once picked on test images
(decoder weight decay, latent lr, the KL / code-penalty weight) at seed 0, half and double-ish around the default.
Each run is `tune run` (train, fit the first `--n-val` validation images, never a test image). The rule, fixed before
the search: a change is adopted only if it lowers the validation course_loss of every variant, and its mean over the
variants by more than twice the largest seed-to-seed std of a default; otherwise the default stays.
"""
from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

from ..infra.config import load_params
from ..infra.errors import VadlibError
from ..infra.io import write_text
from ..infra.markdown import fixed, table
from . import tune

VARIANTS = ("ad", "normal", "uniform", "laplace")
NOISE_SEEDS = (0, 1, 2)
RUNS = Path("reports/recipe_search/runs.jsonl")
REPORT = Path("reports/recipe_search.md")
COMMAND = "python scripts/study.py recipe-search run && python scripts/study.py recipe-search report"
FACTORS = {"train.weight_decay": (0.5, 2.0), "train.lr_latent": (0.5, 2.0), "beta": (0.25, 4.0)}


def changes(cfg, variant: str) -> list[tuple[str, list[str]]]:
    """(label, --set settings) for one variant: the same relative changes for every variant."""
    out = []
    for key, factors in FACTORS.items():
        if key == "beta":
            base, name = cfg.variant(variant).beta, f"variants.{variant}.beta"
        else:
            section, field = key.split(".")
            base, name = getattr(getattr(cfg, section), field), key
        for f in factors:
            out.append((f"{key} x{f:g}", [f"{name}={base * f:g}"]))
    return out


def plan(params: str = "params.yaml") -> list[dict]:
    """Every run, one setting at a time across all variants, so that a stopped search has whole comparisons."""
    cfg = load_params(params)
    runs = [{"variant": v, "change": "default", "seed": s, "settings": [f"seed={s}"]}
            for s in NOISE_SEEDS for v in VARIANTS]
    per_variant = {v: changes(cfg, v) for v in VARIANTS}
    for i in range(len(per_variant[VARIANTS[0]])):
        runs += [{"variant": v, "change": per_variant[v][i][0], "seed": 0, "settings": ["seed=0", *per_variant[v][i][1]]}
                 for v in VARIANTS]
    return runs


def read(path: str | os.PathLike = RUNS) -> list[dict]:
    p = Path(path)
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()] if p.exists() else []


def run(n_val: int = 500, params: str = "params.yaml", out: str | os.PathLike = RUNS) -> None:
    """Run every planned run the output lacks, appending one JSON line as each finishes (a stop loses one run)."""
    done = {(r["variant"], r["change"], r["seed"]) for r in read(out)}
    runs = plan(params)
    todo = [r for r in runs if (r["variant"], r["change"], r["seed"]) not in done]
    print(f"{len(todo)} of {len(runs)} runs to do -> {out}", flush=True)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    for r in todo:
        line = tune.run(r["variant"], r["settings"], n_val, params)
        with open(out, "a") as f:
            f.write(json.dumps({**r, "n_val": n_val, "val_course_loss": line["val_course_loss"],
                                "val_knn_accuracy": line.get("knn_accuracy"), "result": line}) + "\n")


def decide(rows: list[dict]) -> dict:
    """Per change: each variant's gain over its seed-0 default, the mean gain, the noise bar and the verdict."""
    by = {(r["variant"], r["change"], r["seed"]): r["val_course_loss"] for r in rows}
    noise = {}
    for v in VARIANTS:
        vals = [by[(v, "default", s)] for s in NOISE_SEEDS if (v, "default", s) in by]
        noise[v] = statistics.stdev(vals) if len(vals) >= 2 else None
    known = [s for s in noise.values() if s is not None]
    bar = 2 * max(known) if len(known) == len(VARIANTS) else None  # no verdict before every variant's noise
    labels = sorted({r["change"] for r in rows if r["change"] != "default"})
    out = {"noise_std": noise, "bar": bar, "changes": {}}
    for label in labels:
        gains = {v: by[(v, "default", 0)] - by[(v, label, 0)] for v in VARIANTS if (v, label, 0) in by}
        complete = len(gains) == len(VARIANTS) and bar is not None
        mean = statistics.fmean(gains.values()) if gains else float("nan")
        adopt = complete and all(g > 0 for g in gains.values()) and mean > bar
        out["changes"][label] = {"gains": gains, "mean_gain": mean,
                                 "verdict": "adopt" if adopt else ("incomplete" if not complete else "keep default")}
    return out


def report(path: str | os.PathLike = RUNS, out: str | os.PathLike = REPORT) -> str:
    rows = read(path)
    if not rows:
        raise VadlibError(f"{path}: no runs yet (run `{COMMAND.split(' && ')[0]}`)")
    d = decide(rows)
    by = {(r["variant"], r["change"], r["seed"]): r["val_course_loss"] for r in rows}
    n_val = rows[0]["n_val"]
    head = ["setting", *VARIANTS, "mean gain", "verdict"]
    body = [["default (seeds " + ", ".join(map(str, NOISE_SEEDS)) + ")",
             *[" / ".join(fixed(by[(v, "default", s)], 5) for s in NOISE_SEEDS if (v, "default", s) in by)
               for v in VARIANTS], "-", "-"]]
    for label, c in d["changes"].items():
        body.append([label, *[fixed(by[(v, label, 0)], 5) if (v, label, 0) in by else "-" for v in VARIANTS],
                     f"{c['mean_gain']:+.5f}", c["verdict"]])
    adopted = [k for k, c in d["changes"].items() if c["verdict"] == "adopt"]
    lines = [
        "# The recipe chosen on validation images",
        "",
        f"Generated by `{COMMAND}` from `{path}`. Validation course_loss (lower is better) of the first {n_val} "
        "validation images (`data.n_val`, never a test image), each variant trained under the same changes, one at a "
        "time, from params.yaml's defaults; a change's gain is the seed-0 default's loss minus its own.",
        "",
        *table(head, body),
        "",
        "Seed-to-seed std of the default: " + ", ".join(f"{v} {fixed(s, 5)}" for v, s in d["noise_std"].items())
        + ". The rule (fixed before the search): adopt a change only if every variant gains and the mean gain "
        "exceeds twice the largest std" + (f", {d['bar']:.5f}." if d["bar"] is not None else
                                           " (not yet known: some defaults lack seeds)."),
        "",
        f"Runs present: {len(rows)} of {len(plan())}.",
        "",
        ("Adopted: " + ", ".join(adopted) + "." if adopted else
         ("No change passes the rule: the defaults stay." if len(rows) >= len(plan()) else
          "No change passes the rule so far: the defaults stay.") if d["bar"] is not None else
         "The search is incomplete: no verdict yet."),
        "",
    ]
    text = "\n".join(lines)
    write_text(out, text)
    return text


def register(parser) -> None:
    """`scripts/study.py recipe-search run|report`."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    r = sub.add_parser("run", help="every planned tune run the output lacks (resumable)")
    r.add_argument("--n-val", type=int, default=500, help="validation images to fit (default: %(default)s)")
    r.add_argument("--params", default="params.yaml")
    r.add_argument("--out", default=str(RUNS))
    r.set_defaults(func=lambda a: run(a.n_val, a.params, a.out))
    p = sub.add_parser("report", help="the runs -> reports/recipe_search.md")
    p.add_argument("--runs", default=str(RUNS))
    p.add_argument("--out", default=str(REPORT))
    p.set_defaults(func=lambda a: print(report(a.runs, a.out)))
