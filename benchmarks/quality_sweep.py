"""Recipe search by the whole evaluation, on a CUDA machine: for each (variant, settings) job below, train, fit the
1000 test images and run the `evaluate` stage's whole measurement at sampler temperatures 1.0 and 0.9
(`scripts/study.py tune evaluate`), JOBS (8) runs at a time on one GPU, one JSON line per run and temperature in
$OUT/quality_sweep.jsonl; `benchmarks/quality_table.py` turns them into a table. GPU figures rank recipes; the
chosen one is then confirmed on the CPU by `dvc repro`. From the repo root (runs prepare and evaluator first):

    OUT=<folder> VADLIB_DATA_ROOT=<IDX folder> bash benchmarks/quality_sweep.sh
    bash benchmarks/quality_sweep.sh --list     # print the jobs, one `variant settings...` per line; run nothing
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# one setting per entry, applied to each VAD (`.V.` becomes the variant's name); the empty one is the defaults
VAD_GRID = ("", "variants.V.beta=0.0002", "variants.V.beta=0.02", "variants.V.init_scale=3.0",
            "variants.V.init_width=0.03", "variants.V.init_width=0.3", "train.epochs=150", "train.lr_latent=0.3",
            "train.weight_decay=3.0", "train.weight_decay=1.5")
VADS = ("normal", "uniform", "laplace")
OTHER = (("ad",), ("ad", "variants.ad.beta=1.0"), ("ad", "variants.ad.beta=0.05"), ("ad", "variants.ad.init_scale=3.0"),
         ("ad", "train.lr_latent=0.3"), ("normal", "seed=1"), ("normal", "seed=2"))
TEMPERATURES = ("1.0", "0.9")


def jobs() -> list[tuple[str, ...]]:
    """(variant, setting...) per job: the grid for every VAD, then the AD's and the seeds'."""
    return [(v, *([s.replace(".V.", f".{v}.")] if s else [])) for s in VAD_GRID for v in VADS] + list(OTHER)


def command(job: tuple[str, ...]) -> list[str]:
    variant, *settings = job
    return [sys.executable, "scripts/study.py", "tune", "evaluate", variant,
            *(a for s in settings for a in ("--set", s)), "--temperatures", *TEMPERATURES]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog="environment: OUT (default gpu_out), "
                                 "JOBS (default 8), VADLIB_DATA_ROOT")
    ap.add_argument("--list", action="store_true", help="print the jobs, one `variant settings...` a line")
    if ap.parse_args(argv).list:
        print("\n".join(" ".join(job) for job in jobs()))
        return
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "2",
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    out = Path(os.environ.get("OUT") or "gpu_out")
    out.mkdir(parents=True, exist_ok=True)
    log_path, lines_path, err_path = (out / f"quality_sweep.{ext}" for ext in ("log", "jsonl", "err"))
    start = time.time()
    with open(log_path, "w") as log:
        for stage in ("prepare", "evaluator"):
            if subprocess.run([sys.executable, f"stages/{stage}.py"], cwd=REPO, env=env, stdout=log,
                              stderr=subprocess.STDOUT).returncode:
                log.flush()
                print("\n".join(log_path.read_text().splitlines()[-20:]))
                raise SystemExit(1)
    note = f"prepare + evaluator: {round(time.time() - start)} s"
    print(note)
    with open(log_path, "a") as log:
        log.write(note + "\n")
    lock = threading.Lock()

    def one(job):
        proc = subprocess.run(command(job), cwd=REPO, env=env, capture_output=True, text=True)
        with lock, open(lines_path, "a") as lines, open(err_path, "a") as err:
            lines.write(proc.stdout)
            err.write(proc.stderr)

    all_jobs = jobs()
    with ThreadPoolExecutor(max_workers=int(os.environ.get("JOBS") or 8)) as pool:
        list(pool.map(one, all_jobs))
    n_lines = len(lines_path.read_text().splitlines()) if lines_path.exists() else 0
    note = f"runs: {len(all_jobs)}, lines: {n_lines}, wall {round(time.time() - start)} s"
    print(note)
    with open(log_path, "a") as log:
        log.write(note + "\n")


if __name__ == "__main__":
    main()
