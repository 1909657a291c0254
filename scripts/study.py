"""The latent-distribution study: normal, uniform, laplace x beta {0.002, 0.02, 0.2, 1.0} x seeds {0, 1, 2}, plus the AD
at its default penalty x seeds {0, 1, 2} (39 runs), as queued DVC experiments at the default lengths.

    .venv/bin/python scripts/study.py queue [--jobs N] [--only PATTERN ...] [--dry-run]
        queue every run the table and the experiments lack, start N workers, wait, then collect
    .venv/bin/python scripts/study.py collect    # finished study-* experiments -> rows of reports/study/runs.csv
    .venv/bin/python scripts/study.py report     # reports/study/runs.csv -> reports/study.md and its figure

One run is `dvc exp run --queue -n study-<variant>-b<beta>-s<seed> -S seed=<seed> -S variants.<variant>.beta=<beta>
evaluate@<variant>`: the target limits it to that variant's train, fit and evaluate (and their upstream, prepare and
the evaluator). The seed is the global `seed`, so prepare and the evaluator read it too: with `data.subset: first`
prepare writes the same images for every seed, while the evaluator (the measuring instrument) is retrained once per
seed and then restored from DVC's run cache for every other run with that seed. Variants compared at one seed therefore
share data, decoder initialisation and instrument; the spread over seeds includes the instrument's own noise.
Rows already in the table are never run or added again, so the grid can be finished over several days and machines
(commit the table and reports/study/per_image/ after each `collect`).
"""
from __future__ import annotations

import argparse
import fnmatch
from pathlib import Path

from vadlib.infra.cli import run
from vadlib.infra.config import load_params
from vadlib.infra.errors import VadlibError
from vadlib.infra.experiments import dvc, experiment_refs, export_absolute_data_root, show, wait_for_queue
from vadlib.infra.io import write_json, write_text
from vadlib.pipeline import artifacts
from vadlib.studies import answer
from vadlib.studies import seed_study as study

POLL_SECONDS = 30


def expected_runs(params: str = "params.yaml") -> list[study.Run]:
    cfg = load_params(params)
    for name in (*study.FAMILIES, study.AD):
        cfg.variant(name)  # each must exist in params
    return study.grid(cfg.variant(study.AD).beta)


def select(runs: list[study.Run], patterns: list[str] | None) -> list[study.Run]:
    """Runs whose name or variant matches any pattern (fnmatch: `study-normal-*`, `*-s0`, `laplace`)."""
    if not patterns:
        return runs
    chosen = [r for r in runs if any(fnmatch.fnmatchcase(r.name, p) or r.variant == p for p in patterns)]
    if not chosen:
        raise VadlibError(f"--only {' '.join(patterns)}: matches no run of the grid (names look like "
                          f"{runs[0].name})")
    return chosen


def queued_names() -> set[str]:
    """Names of study experiments that are queued or running now (`dvc queue status`)."""
    status = dvc("queue", "status").stdout
    return {word for line in status.splitlines() if any(s in line for s in ("Queued", "Running"))
            for word in line.split() if word.startswith(study.PREFIX)}


def exp_run_args(r: study.Run) -> list[str]:
    return ["exp", "run", "--queue", "-n", r.name, "-S", f"seed={r.seed}",
            "-S", f"variants.{r.variant}.beta={r.beta:g}", f"evaluate@{r.variant}"]


def queue(args) -> None:
    if args.jobs < 1:
        raise VadlibError(f"--jobs: got {args.jobs}, expected an integer >= 1")
    runs = select(expected_runs(args.params), args.only)
    done = {study.row_key(r) for r in study.read_rows(args.table)}
    exists = set(experiment_refs(study.PREFIX))
    pending = set() if args.dry_run else queued_names()
    todo = [r for r in runs if r.key not in done and r.name not in exists and r.name not in pending]
    print(f"{len(runs)} runs selected: {len(runs) - len(todo)} in the table, finished or queued, {len(todo)} to queue")
    if args.dry_run:
        for r in todo:
            print("dvc " + " ".join(exp_run_args(r)))
        return
    if todo:
        export_absolute_data_root(args.params)
        for r in todo:
            dvc(*exp_run_args(r))
            print(f"queued {r.name}")
    if todo or pending:
        dvc("queue", "start", "-j", str(args.jobs))
        status = wait_for_queue(POLL_SECONDS)
        failed = [line for line in status.splitlines() if "Failed" in line and study.PREFIX in line]
        if failed:
            print("failed runs (see `dvc queue logs <name>`):\n" + "\n".join(failed))
    collect(args)


def collect(args) -> None:
    import json

    import yaml

    refs = experiment_refs(study.PREFIX)
    done = {study.row_key(r) for r in study.read_rows(args.table)}
    rows, copied = [], 0
    for name, (baseline, rev) in sorted(refs.items()):
        r = study.parse_run_name(name)
        if r.key in done:
            continue
        params = yaml.safe_load(show(rev, "params.yaml") or "{}")
        got = (params.get("seed"), params.get("variants", {}).get(r.variant, {}).get("beta"))
        if got[0] != r.seed or got[1] is None or f"{float(got[1]):g}" != f"{r.beta:g}":
            raise VadlibError(f"experiment {name} ({rev[:7]}): its params.yaml has seed {got[0]}, "
                              f"variants.{r.variant}.beta {got[1]}; the name says seed {r.seed}, beta {r.beta:g}")
        text = show(rev, f"metrics/variants/{r.variant}.json")
        if text is None:
            raise VadlibError(f"experiment {name} ({rev[:7]}): no metrics/variants/{r.variant}.json")
        seconds = {}
        for stage in study.TIMED_STAGES:
            s = show(rev, f"metrics/seconds/{stage}/{r.variant}.json")
            if s is not None:
                seconds[stage] = json.loads(s)
        rows.append(study.row_from_metrics(r, json.loads(text), seconds, baseline, rev))
        per_image = show(rev, f"metrics/per_image/{r.variant}.csv")
        if per_image is not None:
            write_text(Path(args.per_image) / f"{name}.csv", per_image)
            copied += 1
    added, skipped = study.append_rows(args.table, rows)
    print(f"{args.table}: {len(added)} rows added, {len(skipped)} already present; {copied} per-image files copied "
          f"to {args.per_image}")


def report(args) -> None:
    cfg = load_params(args.params)
    study.write_report(args.table, expected_runs(args.params), args.out, args.figures, args.per_image, seed=cfg.seed)
    content = answer.answer_file(study.load_table(args.table), {n: v.beta for n, v in cfg.variants.items()},
                                 cfg.quality.n_samples, "python scripts/study.py report")
    write_json(args.answer, content)
    print(f"wrote {args.out} and {args.answer}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("action", choices=["queue", "collect", "report"])
    ap.add_argument("--jobs", type=int, default=1, help="queue workers (2 CPU cores: 1)")
    ap.add_argument("--only", nargs="+", metavar="PATTERN", help="runs whose name (fnmatch) or variant matches")
    ap.add_argument("--dry-run", action="store_true", help="queue: print the dvc commands, run nothing")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--table", default=str(study.TABLE))
    ap.add_argument("--per-image", default=str(study.PER_IMAGE_DIR))
    ap.add_argument("--out", default=str(study.REPORT))
    ap.add_argument("--figures", default=str(study.FIGURES))
    ap.add_argument("--answer", default=str(artifacts.STUDY_ANSWER), help="the report stage's answer (JSON)")
    args = ap.parse_args()
    {"queue": queue, "collect": collect, "report": report}[args.action](args)


if __name__ == "__main__":
    run(main)
