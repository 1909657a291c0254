#!/usr/bin/env bash
# The default pipeline without DVC (a GPU image may have none): benchmarks/run_stages.py runs every stage of
# dvc.yaml, one process each, each once the stages whose outputs it reads have finished, JOBS at a time (default 1,
# as `dvc repro`), timed. The stages write their outputs in the checkout, as `dvc repro` does. From the repo root of
# the GPU machine's copy:
#   OUT=<folder> [JOBS=4] VADLIB_DATA_ROOT=<IDX folder> bash benchmarks/gpu_pipeline.sh
#   bash benchmarks/gpu_pipeline.sh --list    # print the stage commands in a valid order; run nothing
# Writes $OUT/pipeline.txt (environment, seconds per stage process, the whole wall time, each stage's last line),
# each stage's log in $OUT/logs/ and a copy of metrics/ in $OUT/metrics/.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
cd "$REPO"
export PYTHONUNBUFFERED=1 PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" TQDM_DISABLE=1
if [[ "${1:-}" == "--list" ]]; then exec "$PY" benchmarks/run_stages.py --project . --list; fi
exec "$PY" benchmarks/run_stages.py --project . --out "${OUT:-gpu_out}" --jobs "${JOBS:-1}" --python "$PY"
