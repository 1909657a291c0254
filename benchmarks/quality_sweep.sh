#!/usr/bin/env bash
# Issue 11's recipe search on a CUDA machine: for each (variant, settings) line below, train, fit the 1000 test images
# and run the whole `evaluate` measurement at sampler temperatures 1.0 and 0.9 (scripts/evaluate_one.py), 8 runs at a
# time on one GPU, one JSON line per run and temperature. GPU figures rank recipes; the chosen one is then confirmed
# on the CPU by `dvc repro`. Usage on the GPU machine, from the repo root (runs prepare and evaluator first):
#   OUT=<folder> VADLIB_DATA_ROOT=<IDX folder> bash benchmarks/quality_sweep.sh
set -uo pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH="${PYTHONPATH:-}:." TQDM_DISABLE=1 OMP_NUM_THREADS=2
OUT=${OUT:-gpu_out}; mkdir -p "$OUT"
JOBS=${JOBS:-8}
t0=$(date +%s)
python3 stages/prepare.py > "$OUT/quality_sweep.log" 2>&1 && python3 stages/evaluator.py >> "$OUT/quality_sweep.log" 2>&1 \
  || { tail -20 "$OUT/quality_sweep.log"; exit 1; }
echo "prepare + evaluator: $(( $(date +%s) - t0 )) s"
VAD_GRID=$(cat <<'G'

variants.V.beta=0.0002
variants.V.beta=0.02
variants.V.init_scale=3.0
variants.V.init_width=0.03
variants.V.init_width=0.3
train.epochs=150
train.lr_latent=0.3
train.weight_decay=3.0
train.weight_decay=1.5
G
)
jobs=()
while IFS= read -r line; do for v in normal uniform laplace; do jobs+=("$v ${line//.V./.$v.}"); done; done <<< "$VAD_GRID"
jobs+=("ad" "ad variants.ad.beta=1.0" "ad variants.ad.beta=0.05" "ad variants.ad.init_scale=3.0" "ad train.lr_latent=0.3"
       "normal seed=1" "normal seed=2")
printf '%s\n' "${jobs[@]}" | xargs -P "$JOBS" -I{} sh -c \
  'python3 scripts/evaluate_one.py {} --temperatures 1.0 0.9 2>>"$0/quality_sweep.err" >> "$0/quality_sweep.jsonl"' "$OUT"
echo "runs: ${#jobs[@]}, lines: $(wc -l < "$OUT/quality_sweep.jsonl"), wall $(( $(date +%s) - t0 )) s"
