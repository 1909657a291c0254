"""The GPU check, one command to run as it is on a GPU machine (budget about 10 minutes):
  1. the `cuda`-marked tests (tests/pipeline/test_cuda.py and any other);  2. the benchmark on the device at batch 64
  and at the large-N batch (ours vs the compute bound measured the same way), the speed ideas at batch 64
  (torch.compile, CUDA graphs, channels_last, fused Adam, batch sizes), and the tf32 / bf16 options' speed and
  quality;  3. one full-scale variant (60k/10k, vadlib/studies/full_scale.py's settings) train + fit, end to end, timed.
Every figure lands in $OUT/gpu_check.txt (plus the benchmark JSONs). Runs in a scratch folder: the checkout's own
pipeline outputs are never touched.

    OUT=<folder> VADLIB_DATA_ROOT=<IDX folder> bash benchmarks/gpu_check.sh            # on the GPU machine
    OUT=<folder> VADLIB_DATA_ROOT=<IDX folder> bash benchmarks/gpu_check.sh --dry-run  # tiny sizes, CPU is fine
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gpu_common import REPO, environment, last_lines, prepare_environment, write_params

from vadlib.studies import full_scale

LARGE_BATCH = full_scale.BATCH  # the large-N batch (docs/performance.md, "Full scale")


class Report:
    """Lines to stdout and to $OUT/gpu_check.txt, as `tee -a` would."""

    def __init__(self, path: Path):
        self.path = path
        path.write_text("")

    def note(self, *lines: str) -> None:
        text = "".join(f"{line}\n" for line in lines)
        print(text, end="", flush=True)
        with open(self.path, "a") as fh:
            fh.write(text)


def run(cmd: list, cwd: Path | None = None, check: bool = True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, text=True, **kw)
    if check and proc.returncode != 0:
        raise SystemExit(f"error: `{' '.join(map(str, cmd))}` exited with {proc.returncode}")
    return proc


def bench_line(r: dict, batch: int) -> list[str]:
    lines = [f"batch {batch}, N={r['n']}: train {r['train']['ours_images_per_s']} images/s (bound "
             f"{r['bound']['bound_images_per_s']}, {r['bound']['ours_fraction']} of it), fit "
             f"{r['fit']['ours_images_per_s']} images/s, device {r['machine']['device']}"]
    if isinstance(r["ideas"], dict):
        lines += [f"  idea, {row['mode']}: {row['idea']}: {row['images_per_s']} images/s = {row['vs_default']}x our "
                  "default step" for row in r["ideas"]["rows"]]
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog="environment: OUT, VADLIB_DATA_ROOT, "
                                 "TRAIN_EPOCHS and FIT_EPOCHS (full-scale variant, default 150 each)")
    ap.add_argument("--dry-run", action="store_true", help="tiny sizes, one epoch (a CPU is fine)")
    dry = ap.parse_args(argv).dry_run
    out, data_root = prepare_environment("gpu_check")
    report = Report(out / "gpu_check.txt")
    # the ideas (--ideas) compile the decoder: minutes on a CPU, so the dry run leaves them out
    if dry:
        n_train, n_test, bench, ideas, bench_n, train_epochs, fit_epochs = 256, 128, ["--quick"], [], 128, 1, 1
    else:
        n_train, n_test, bench, ideas, bench_n = 60000, 10000, ["--epochs", "4", "--rounds", "2"], ["--ideas"], 10000
        train_epochs = int(os.environ.get("TRAIN_EPOCHS") or 150)
        fit_epochs = int(os.environ.get("FIT_EPOCHS") or 150)
    report.note(*environment("gpu_check", dry))

    report.note("## 1. cuda tests")
    tests = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "cuda", "tests/"], cwd=REPO,
                check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    report.note(*last_lines(tests.stdout, 15))
    if tests.returncode != 0:
        report.note("cuda tests: FAILED (above); the check goes on")

    report.note("## 2. benchmark (images/s: ours vs the compute bound, same device, same run)")
    for batch in (64, LARGE_BATCH):  # the large batch over 10k images: enough steps per epoch to time
        n, extra = (bench_n, []) if batch == LARGE_BATCH else (1000, ideas)
        path = out / f"bench_b{batch}.json"
        run([sys.executable, REPO / "benchmarks/bench.py", *bench, *extra, "--n", n, "--batch-size", batch,
             "--data-root", data_root, "--out", path], stdout=subprocess.DEVNULL)
        report.note(*bench_line(json.loads(path.read_text()), batch))

    report.note("## 2b. precision options at the large batch (our training and fitting images/s), and their quality")
    for precision in ("tf32", "bf16"):
        path = out / f"bench_b{LARGE_BATCH}_{precision}.json"
        run([sys.executable, REPO / "benchmarks/bench.py", *bench, "--n", bench_n, "--batch-size", LARGE_BATCH,
             "--precision", precision, "--data-root", data_root, "--out", path], stdout=subprocess.DEVNULL)
        r = json.loads(path.read_text())
        report.note(f"precision {r['precision']}, batch {LARGE_BATCH}: train {r['train']['ours_images_per_s']} "
                    f"images/s, fit {r['fit']['ours_images_per_s']} images/s")
    quality = (["train.epochs=2", "fit.epochs=2", "data.n_train=64", "data.n_test=20", "data.verify_md5=false"]
               if dry else [])
    for precision in ("float32", "tf32", "bf16"):  # the default 1000/1000 recipe for one variant: a quality cost?
        sets = [a for s in [f"precision={precision}", "data.download=false", *quality] for a in ("--set", s)]
        tuned = run([sys.executable, "scripts/study.py", "tune", "run", "normal", "--n-val", 32 if dry else 1000,
                     *sets], cwd=REPO, stdout=subprocess.PIPE)
        report.note(*last_lines(tuned.stdout))

    report.note(f"## 3. full scale: one variant, n_train={n_train} n_test={n_test}, train + fit")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_params(work / "params.yaml", [
            *full_scale.SETTINGS, f"data.n_train={n_train}", f"data.n_test={n_test}", "data.download=false",
            f"data.verify_md5={str(not dry).lower()}", f"train.epochs={train_epochs}", "train.checkpoint_every=0",
            f"fit.epochs={fit_epochs}", "fit.refit_train=false"])
        seconds = {}
        start = time.perf_counter()
        with open(work / "prepare.log", "w") as log:
            prepared = run([sys.executable, REPO / "stages/prepare.py"], cwd=work, check=False, stdout=log,
                           stderr=subprocess.STDOUT)
        if prepared.returncode != 0:
            print("\n".join(last_lines((work / "prepare.log").read_text(), 5)))
            raise SystemExit(1)
        seconds["prepare"] = time.perf_counter() - start
        # the peak host memory of each step, where GNU time is installed
        timed = (["/usr/bin/time", "-f", "peak host memory of that step: %M KiB", "-a", "-o", report.path]
                 if os.access("/usr/bin/time", os.X_OK) else [])
        for stage in ("train", "fit"):
            start = time.perf_counter()
            proc = run([*timed, sys.executable, REPO / f"stages/{stage}.py", "normal"], cwd=work, check=False,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            report.note(*last_lines(proc.stdout))
            if proc.returncode != 0:
                raise SystemExit(f"error: the {stage} stage failed (exit {proc.returncode})")
            seconds[stage] = time.perf_counter() - start
        report.note(full_scale_losses(work))
    report.note("full-scale seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()), "done")


def full_scale_losses(work: Path) -> str:
    import torch

    from vadlib.infra.data import load_prepared
    from vadlib.pipeline import artifacts
    from vadlib.pipeline.checkpoint import load_fitted, load_trained
    from vadlib.pipeline.evaluate import reconstruction

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    m = reconstruction(load_trained(work / artifacts.model("normal"), device),
                       load_fitted(work / artifacts.fitted("normal")), load_prepared(work / artifacts.TRAIN_DATA),
                       load_prepared(work / artifacts.TEST_DATA))
    return (f"full-scale normal: train course_loss {round(m['train']['course_loss'], 5)} test course_loss "
            f"{round(m['test']['course_loss'], 5)}")


if __name__ == "__main__":
    main()
