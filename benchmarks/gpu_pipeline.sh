#!/usr/bin/env bash
# The default 1000/1000 pipeline's compute stages on a CUDA machine, without DVC (the device image has no dvc):
# prepare, evaluator, then train, fit and evaluate for each variant, timed; then the seed-noise study for `normal`.
# Usage on the GPU machine, from the repo root: OUT=<folder> VADLIB_DATA_ROOT=<IDX folder> bash benchmarks/gpu_pipeline.sh
set -euo pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH="${PYTHONPATH:-}:." TQDM_DISABLE=1
OUT=${OUT:-gpu_out}; mkdir -p "$OUT"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
} | tee "$OUT/env.txt"
t0=$(date +%s.%N)
python3 stages/prepare.py
python3 stages/evaluator.py
for v in ad normal uniform laplace; do
  python3 stages/train.py "$v"
  python3 stages/fit.py "$v"
  python3 stages/evaluate.py "$v"
done
t1=$(date +%s.%N)
echo "pipeline_wall_seconds $(python3 -c "print(round($t1 - $t0, 1))")" | tee -a "$OUT/env.txt"
python3 scripts/seed_noise.py normal --seeds 1 2
tar czf "$OUT/metrics.tgz" metrics reports/seed_noise.json
