#!/usr/bin/env bash
# The GPU run (benchmarks/gpu_run.py: the default pipeline, the full-scale one, the study grid, tf32 / bf16), each
# step in a scratch copy of the project, resumable with DONE:
#   OUT=<folder> VADLIB_DATA_ROOT=<IDX folder> [DONE=<folder>] [STEPS="1 2 3 4"] [JOBS=4] bash benchmarks/gpu_run.sh
#   ... bash benchmarks/gpu_run.sh --dry-run   # every step on tiny sizes and epochs: minutes, a CPU is fine
# A thin wrapper: the logic is in Python; PYTHON picks the interpreter (default python3, e.g. the machine's CUDA torch).
REPO=$(cd "$(dirname "$0")/.." && pwd)
PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" exec "${PYTHON:-python3}" "$REPO/benchmarks/gpu_run.py" "$@"
