"""The seed study's runs as queued DVC experiments: queue what the table lacks, collect finished ones, report.

    python scripts/study.py seeds queue [--jobs N] [--only PATTERN ...] [--dry-run]
        queue every run the table and the experiments lack, start N workers, wait, then collect
    python scripts/study.py seeds collect    # finished study-* experiments -> rows of reports/study/runs.csv
    python scripts/study.py seeds report     # reports/study/runs.csv -> reports/study.md, its figure, answer.json
                                             # and README.md's "Results at a glance" block

The grid (`vadlib/studies/seed_study.py grid`): normal, uniform, laplace x beta {0.002, 0.2, 1.0} x seeds 0-9 and
beta 0.02 x seeds 0-2, plus the AD at its default penalty x seeds 0-9 (109 runs), at the default lengths, seed block
by seed block. One run is `dvc exp run --queue -n study-<variant>-b<beta>-s<seed> -S seed=<seed>
-S variants.<variant>.beta=<beta> evaluate@<variant> impute@<variant>`: the targets limit it to that variant's train,
fit, evaluate and impute (and their upstream, prepare and the evaluator). The seed is the global `seed`, so prepare
and the evaluator read it too: with `data.subset: first` prepare writes the same images for every seed, while the
evaluator (the measuring instrument) is retrained once per seed and then restored from DVC's run cache for every
other run with that seed. Variants compared at one seed therefore share data, decoder initialisation and instrument;
the spread over seeds includes the instrument's own noise.
Rows already in the table are never run or added again, so the grid can be finished over several days and machines
(commit the table and reports/study/per_image/ after each `collect`).
"""
from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import yaml

from ..infra.config import load_params
from ..infra.errors import VadlibError
from ..infra.experiments import dvc, experiment_refs, export_absolute_data_root, show, wait_for_queue
from ..infra.io import write_json, write_text
from ..pipeline import artifacts
from . import answer, findings
from . import seed_study as study

POLL_SECONDS = 30
COMMAND = "python scripts/study.py seeds report"


def expected_runs(params: str = "params.yaml") -> list[study.Run]:
    cfg = load_params(params)
    for name in (*study.FAMILIES, study.AD):
        cfg.variant(name)  # each must exist in params
    return study.grid(cfg.variant(study.AD).beta)


def missing_runs(params: str = "params.yaml", table=study.TABLE) -> tuple[list[study.Run], list[study.Run]]:
    """(the grid, the runs of it the table lacks)."""
    expected = expected_runs(params)
    have = {study.row_key(r) for r in study.read_rows(table)}
    return expected, [r for r in expected if r.key not in have]


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
            "-S", f"variants.{r.variant}.beta={r.beta:g}", f"evaluate@{r.variant}", f"impute@{r.variant}"]


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


def evaluator_md5(rev: str) -> str | None:
    """The measuring instrument's identity in one experiment: models/evaluator.pt's md5 in its dvc.lock."""
    lock = yaml.safe_load(show(rev, "dvc.lock") or "{}") or {}
    for out in lock.get("stages", {}).get("evaluator", {}).get("outs", []):
        if out.get("path") == str(artifacts.EVALUATOR):
            return out.get("md5")
    return None


def collect(args) -> None:
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
        imputed = show(rev, f"metrics/impute/{r.variant}.json")
        rows.append(study.row_from_metrics(r, json.loads(text), seconds, baseline, rev, evaluator_md5(rev),
                                           json.loads(imputed) if imputed is not None else None))
        per_image = show(rev, f"metrics/per_image/{r.variant}.csv")
        if per_image is not None:
            write_text(Path(args.per_image) / f"{name}.csv", per_image)
            copied += 1
    added, skipped = study.append_rows(args.table, rows)
    print(f"{args.table}: {len(added)} rows added, {len(skipped)} already present; {copied} per-image files copied "
          f"to {args.per_image}")


def report(args) -> None:
    cfg = load_params(args.params)
    study.write_report(args.table, expected_runs(args.params), args.out, args.figures)
    df, betas = study.load_table(args.table), {n: v.beta for n, v in cfg.variants.items()}
    write_json(args.answer, answer.answer_file(df, betas, cfg.quality.n_samples, COMMAND))
    findings.rewrite_readme(findings.glance(df, betas), args.readme)
    print(f"wrote {args.out}, {args.answer} and the results block of {args.readme}")


def register(parser) -> None:
    """`scripts/study.py seeds queue|collect|report`."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = sub.add_parser("queue", help="queue the runs the table lacks, run them, wait, collect")
    q.add_argument("--jobs", type=int, default=1, help="queue workers (2 CPU cores: 1)")
    q.add_argument("--only", nargs="+", metavar="PATTERN", help="runs whose name (fnmatch) or variant matches")
    q.add_argument("--dry-run", action="store_true", help="print the dvc commands, run nothing")
    q.set_defaults(func=queue)
    c = sub.add_parser("collect", help="finished study-* experiments -> rows of the table")
    c.set_defaults(func=collect)
    r = sub.add_parser("report", help="the table -> reports/study.md, its figure and reports/study/answer.json")
    r.add_argument("--out", default=str(study.REPORT))
    r.add_argument("--figures", default=str(study.FIGURES))
    r.add_argument("--answer", default=str(artifacts.STUDY_ANSWER), help="the report stage's answer (JSON)")
    r.add_argument("--readme", default=str(findings.README), help="the README whose study-results block to rewrite")
    r.set_defaults(func=report)
    for p in (q, c, r):
        p.add_argument("--params", default="params.yaml")
        p.add_argument("--table", default=str(study.TABLE))
        p.add_argument("--per-image", default=str(study.PER_IMAGE_DIR))
