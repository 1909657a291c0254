#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py: the cuda tests, the benchmark, tf32 / bf16, one full-scale variant):
#   OUT=<folder> VADLIB_DATA_ROOT=<IDX folder> bash benchmarks/gpu_check.sh            # on the GPU machine
#   OUT=<folder> VADLIB_DATA_ROOT=<IDX folder> bash benchmarks/gpu_check.sh --dry-run  # tiny sizes, CPU is fine
# A thin wrapper: the logic is in Python; PYTHON picks the interpreter (default python3, e.g. the machine's CUDA torch).
REPO=$(cd "$(dirname "$0")/.." && pwd)
PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" exec "${PYTHON:-python3}" "$REPO/benchmarks/gpu_check.py" "$@"
