#!/usr/bin/env bash
# The recipe search by the whole evaluation (benchmarks/quality_sweep.py), on a CUDA machine:
#   OUT=<folder> VADLIB_DATA_ROOT=<IDX folder> [JOBS=8] bash benchmarks/quality_sweep.sh
#   bash benchmarks/quality_sweep.sh --list     # print the jobs, one `variant settings...` per line; run nothing
# A thin wrapper: the logic is in Python; PYTHON picks the interpreter (default python3, e.g. the machine's CUDA torch).
REPO=$(cd "$(dirname "$0")/.." && pwd)
PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" exec "${PYTHON:-python3}" "$REPO/benchmarks/quality_sweep.py" "$@"
