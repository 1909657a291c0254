"""The GPU run: one call, in this order, each step in its own scratch copy of the project (the checkout's results are
never touched), everything under $OUT in at most six files (a device call brings back eight):
  1. the default pipeline (1000 / 1000 images), every stage, float32 strict: seconds per stage process and in all,
     and each variant's test course_loss and best-sampler FD beside the checkout's committed (CPU) figures;
  2. the full-scale pipeline (60,000 / 10,000 images, vadlib/studies/full_scale.py's settings), four variants:
     seconds per stage, training and fitting images/s, peak GPU memory, and the report stage's report.md;
  3. the study grid: which of its runs `reports/study/runs.csv` still lacks (they run with `scripts/study.py seeds
     queue` where DVC is; the device image has none);
  4. `precision: tf32` and `bf16` against float32 on the default recipe: images/s (benchmarks/bench.py) and test
     course_loss (`scripts/study.py tune run normal`).
Step N writes $OUT/stepN.txt, ending in "step N: done" (steps 1 and 2 also stepN.tar.gz: the scratch project's
params, metrics/, reports/ and stage logs). A step whose finished stepN.txt lies in $DONE (a folder holding an
earlier call's files) is skipped, so a second call resumes where the first stopped. A step stops at its first failing
command; its file then ends in "step N: FAILED" and the run stops.

    OUT=<folder> VADLIB_DATA_ROOT=<IDX folder> [DONE=<folder>] [STEPS="1 2 3 4"] [JOBS=4] bash benchmarks/gpu_run.sh
    ... bash benchmarks/gpu_run.sh --dry-run   # every step on tiny sizes and epochs: minutes, a CPU is fine
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
from pathlib import Path

import yaml
from gpu_common import REPO, Failed, environment, has_gpu_tools, prepare_environment, run_logged, write_params

from vadlib.infra.markdown import MISSING, fixed, table
from vadlib.studies import full_scale

STEPS = (1, 2, 3, 4)
# tiny sizes for --dry-run, laid over each step's settings (the IDX files then need >= 160 train images)
TINY = ("data.n_train=40", "data.n_test=20", "data.n_val=10", "data.verify_md5=false", "data.evaluator_pool=unused",
        "model.latent_dim=8", "train.epochs=2", "train.batch_size=16", "fit.epochs=2", "fit.batch_size=16",
        "tsne.n_points=20", "tsne.max_iter=250", "render.n_samples=10", "render.interp_pairs=2", "evaluator.epochs=1",
        "evaluator.n_val=100", "quality.n_samples=20", "evaluate.likelihood_images=5", "evaluate.likelihood_samples=50")
# what a scratch project holds besides params.yaml: the code and the report stage's committed inputs
CODE = ("stages", "vadlib", "dvc.yaml")
COMMITTED = ("reports/study/runs.csv", "reports/study/answer.json")


class Run:
    """One call: its options, its scratch folder, and each step writing to its own log file."""

    def __init__(self, out: Path, work: Path, dry: bool, jobs: int):
        self.out, self.work, self.dry, self.jobs = out, work, dry, jobs
        self.log = None

    def say(self, *lines: str) -> None:
        self.log.write("".join(f"{line}\n" for line in lines))
        self.log.flush()

    def run(self, cmd: list, cwd: Path | None = None, env: dict | None = None, capture: bool = False) -> str:
        return run_logged(cmd, self.log, cwd, env, subprocess.PIPE if capture else subprocess.DEVNULL)

    # -- building blocks ---------------------------------------------------------------------------------------------

    def project(self, folder: Path, settings: list[str]) -> None:
        """A scratch copy of the pipeline whose params.yaml is the checkout's with `settings` applied."""
        for rel in CODE:
            src = REPO / rel
            if src.is_dir():
                shutil.copytree(src, folder / rel, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, folder / rel)
        for rel in COMMITTED:
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, folder / rel)
        write_params(folder / "params.yaml", ["data.download=false", *settings])

    def pipeline(self, folder: Path, step: int) -> None:
        """Every stage in the scratch project (benchmarks/run_stages.py, `jobs` stage processes at a time), peak GPU
        memory sampled beside it; then the project's results packed into $OUT/stepSTEP.tar.gz."""
        samples, sampler = self.work / f"gpu_mem_{step}.txt", None
        if has_gpu_tools():
            with open(samples, "w") as fh:
                sampler = subprocess.Popen(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits",
                                            "-lms", "500"], stdout=fh, stderr=subprocess.DEVNULL)
        try:
            self.run([sys.executable, REPO / "benchmarks/run_stages.py", "--project", folder, "--out", folder / "run",
                      "--jobs", self.jobs, "--python", sys.executable], cwd=folder,
                     env={**os.environ, "PYTHONPATH": str(folder)})
        finally:
            if sampler is not None:
                sampler.terminate()
                sampler.wait()
        self.say((folder / "run/pipeline.txt").read_text().rstrip("\n"))
        used = [int(v) for v in samples.read_text().split() if v.isdigit()] if samples.exists() else []
        if used:
            self.say(f"peak GPU memory used (nvidia-smi every 0.5 s): {max(used)} MiB")
        with tarfile.open(self.out / f"step{step}.tar.gz", "w:gz") as tar:
            for rel in ("params.yaml", "metrics", "reports", "run/logs"):
                tar.add(folder / rel, arcname=rel)

    def tiny(self) -> list[str]:
        return list(TINY) if self.dry else []

    # -- the steps ---------------------------------------------------------------------------------------------------

    def step1(self) -> None:
        self.say(*environment("gpu_run", self.dry), "## 1. the default pipeline, float32 strict")
        folder = self.work / "default"
        self.project(folder, ["precision=float32", *self.tiny()])
        self.pipeline(folder, 1)
        self.say(*beside_committed(folder, REPO))

    def step2(self) -> None:
        self.say(*environment("gpu_run", self.dry), "## 2. the full-scale pipeline")
        folder = self.work / "full"
        self.project(folder, [*full_scale.SETTINGS, *self.tiny()])
        self.pipeline(folder, 2)
        self.say(*throughput(folder))

    def step3(self) -> None:
        from vadlib.studies import seed_campaign, seed_study

        self.say("## 3. the study grid")
        expected, missing = seed_campaign.missing_runs(REPO / "params.yaml", REPO / seed_study.TABLE)
        self.say(f"{seed_study.TABLE} holds {len(expected) - len(missing)} of {len(expected)} runs")
        if missing:
            self.say("missing (run them with `python scripts/study.py seeds queue` where DVC is): "
                     + ", ".join(r.name for r in missing))

    def step4(self) -> None:
        self.say(*environment("gpu_run", self.dry), "## 4. precision options on the default recipe (normal)")
        bench = ["--quick", "--n", "128"] if self.dry else ["--epochs", "4", "--rounds", "2", "--n", "1000"]
        n_test = "20" if self.dry else "1000"
        extra = (["train.epochs=2", "fit.epochs=2", "data.n_train=64", "data.n_test=20", "data.verify_md5=false"]
                 if self.dry else [])
        for precision in ("float32", "tf32", "bf16"):
            result = self.work / f"bench_{precision}.json"
            self.run([sys.executable, REPO / "benchmarks/bench.py", *bench, "--batch-size", "64", "--precision",
                      precision, "--data-root", os.environ["VADLIB_DATA_ROOT"], "--out", result])
            r = json.loads(result.read_text())
            self.say(f"precision {r['precision']}, batch 64: train {r['train']['ours_images_per_s']} images/s, "
                     f"fit {r['fit']['ours_images_per_s']} images/s")
            sets = [a for s in [f"precision={precision}", "data.download=false", *extra] for a in ("--set", s)]
            out = self.run([sys.executable, "scripts/study.py", "tune", "run", "normal", "--n-val", n_test, *sets],
                           cwd=REPO, capture=True)
            self.say(*out.rstrip("\n").splitlines()[-1:])


def beside_committed(folder: Path, repo: Path) -> list[str]:
    """Each variant's test course_loss and best-sampler FD here, beside the checkout's committed figures."""
    def best(m):
        return f"{m['best_sampler']['name']} {fixed(m['samples'][m['best_sampler']['name']]['fd'], 2)}"

    rows = []
    for path in sorted((folder / "metrics/variants").glob("*.json")):
        here, committed = json.loads(path.read_text()), repo / "metrics/variants" / path.name
        cpu = json.loads(committed.read_text()) if committed.exists() else None
        rows.append([path.stem, f"{fixed(here['test']['course_loss'])} / "
                     f"{fixed(cpu['test']['course_loss']) if cpu else MISSING}",
                     f"{best(here)} / {best(cpu) if cpu else MISSING}"])
    return table(("variant", "test course_loss: here / committed", "best sampler: FD here / committed"), rows)


def throughput(folder: Path) -> list[str]:
    """Training and fitting images/s per variant, from the stages' own seconds."""
    p = yaml.safe_load((folder / "params.yaml").read_text())
    n_train, n_test = p["data"]["n_train"], p["data"]["n_test"]
    fitted = n_test + (n_train if p["fit"]["refit_train"] else 0)
    lines = []
    for path in sorted((folder / "metrics/seconds/train").glob("*.json")):
        train = json.loads(path.read_text())
        fit = json.loads((folder / "metrics/seconds/fit" / path.name).read_text())
        lines.append(f"{path.stem}: training {n_train * p['train']['epochs'] / train['train_seconds']:,.0f} images/s "
                     f"({train['train_seconds']} s, {train['device']}), fitting "
                     f"{fitted * p['fit']['epochs'] / fit['fit_seconds']:,.0f} images/s ({fit['fit_seconds']} s)")
    return lines


def finished_before(done: str | None, step: int) -> bool:
    """Whether an earlier call's folder `done` holds step `step`'s file, ending in `step N: done`."""
    if not done or not (Path(done) / f"step{step}.txt").is_file():
        return False
    lines = (Path(done) / f"step{step}.txt").read_text().splitlines()
    return bool(lines) and lines[-1] == f"step {step}: done"


def parse_steps(text: str) -> list[int]:
    steps = []
    for word in text.split():
        if word not in {str(n) for n in STEPS}:
            print(f"error: STEPS: got '{word}', expected step numbers 1-4", file=sys.stderr)
            raise SystemExit(2)
        steps.append(int(word))
    return steps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 epilog="environment: OUT, VADLIB_DATA_ROOT, DONE, STEPS (default 1 2 3 4), JOBS "
                                        "(default 4: stage processes at a time in steps 1 and 2)")
    ap.add_argument("--dry-run", action="store_true", help="every step on tiny sizes and epochs (a CPU is fine)")
    args = ap.parse_args(argv)
    out, _ = prepare_environment("gpu_run")
    steps = parse_steps(os.environ.get("STEPS") or "1 2 3 4")  # all checked before any runs
    done = os.environ.get("DONE")
    with tempfile.TemporaryDirectory() as tmp:
        run = Run(out, Path(tmp), args.dry_run, int(os.environ.get("JOBS") or 4))
        for n in steps:
            if finished_before(done, n):
                print(f"step {n}: done in an earlier call ({done}/step{n}.txt), skipped", flush=True)
                continue
            start = time.time()
            log_path = run.work / f"step{n}.txt"
            with open(log_path, "w") as run.log:
                try:
                    getattr(run, f"step{n}")()
                    ok = True
                except Failed as err:
                    run.say(f"error: {err}")
                    ok = False
                except Exception:  # a bug in the step itself: its traceback, then the same stop
                    run.say(traceback.format_exc().rstrip("\n"))
                    ok = False
                if ok:
                    run.say(f"step {n} seconds: {round(time.time() - start)}", f"step {n}: done")
                else:
                    run.say(f"step {n}: FAILED")
            shutil.copy2(log_path, out / f"step{n}.txt")
            print((out / f"step{n}.txt").read_text(), end="", flush=True)
            if not ok:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
