"""Reproduce the original Uniform failure and find the change that closes it (vadlib/workflows/ablation.py).

Runs the original recipe, then one change at a time towards today's default, for Uniform and the Normal control, at
the default lengths (or --train-epochs/--fit-epochs); each finished run appends a row to
reports/study/uniform_ablation.csv, and rows already there are skipped. `scripts/study.py report` puts the table in
reports/study.md. About 2 minutes per run on 2 CPU cores at the default lengths (11 runs):

    .venv/bin/python scripts/uniform_ablation.py [--steps 0 1] [--families uniform] [--dry-run]
"""
from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import yaml

from vadlib.infra.cli import run
from vadlib.infra.config import load_params
from vadlib.infra.errors import VadlibError
from vadlib.infra.runtime import describe, resolve_device, set_precision
from vadlib.studies import ablation
from vadlib.studies.proxy import course_data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--table", default=str(ablation.TABLE))
    ap.add_argument("--train-epochs", type=int, help="default: params' train.epochs")
    ap.add_argument("--fit-epochs", type=int, help="default: params' fit.epochs")
    ap.add_argument("--steps", type=int, nargs="*", help=f"step numbers 0-{len(ablation.STEPS) - 1} (default all)")
    ap.add_argument("--families", nargs="*", default=list(ablation.ABLATED_FAMILIES), choices=ablation.ABLATED_FAMILIES)
    ap.add_argument("--dry-run", action="store_true", help="list the runs still missing and stop")
    args = ap.parse_args()
    cfg = load_params(args.params)
    raw = yaml.safe_load(Path(args.params).read_text())
    te = args.train_epochs or cfg.train.epochs
    fe = args.fit_epochs or cfg.fit.epochs
    bad = [s for s in args.steps or [] if not 0 <= s < len(ablation.STEPS)]
    if bad:
        raise VadlibError(f"--steps: got {bad}, expected numbers 0-{len(ablation.STEPS) - 1}")
    done = {ablation.row_key(r) for r in ablation.read_rows(args.table)}
    todo = [s for s in ablation.settings(args.families, te, fe)
            if (args.steps is None or s.step in args.steps) and (s.step, s.family, te, fe) not in done]
    print(f"{len(todo)} runs to do at {te} / {fe} epochs")
    for s in todo:
        print(f"  step {s.step} {s.family}: " + " ".join(f"{k}={v}" for k, v in s.overrides.items()))
    if args.dry_run or not todo:
        return
    set_precision(cfg.precision)
    device = resolve_device(cfg.device)
    data, test_images, _ = course_data(cfg)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    for s in todo:
        row = ablation.run_setting(raw, s, data, test_images, device)
        row.update(machine=describe(device), commit=commit)
        ablation.append_row(row, args.table)
        print(f"step {s.step} {s.family}: train {row.get('train_course_loss')}, test {row.get('test_course_loss')}"
              f" {row['note']}", flush=True)


if __name__ == "__main__":
    run(main)
