#!/usr/bin/env bash
# Recipe search by the whole evaluation, on a CUDA machine: for each (variant, settings) job below, train, fit the
# 1000 test images and run the `evaluate` stage's whole measurement at sampler temperatures 1.0 and 0.9
# (scripts/evaluate_one.py), JOBS (8) runs at a time on one GPU, one JSON line per run and temperature in
# $OUT/quality_sweep.jsonl; `benchmarks/quality_table.py` turns them into a table. GPU figures rank recipes; the
# chosen one is then confirmed on the CPU by `dvc repro`. From the repo root (runs prepare and evaluator first):
#   OUT=<folder> VADLIB_DATA_ROOT=<IDX folder> bash benchmarks/quality_sweep.sh
#   bash benchmarks/quality_sweep.sh --list     # print the jobs, one `variant settings...` per line; run nothing
set -uo pipefail
# one setting per line, applied to each VAD (`.V.` becomes the variant's name); the empty line is the defaults
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
while IFS= read -r line; do for v in normal uniform laplace; do jobs+=("$v${line:+ ${line//.V./.$v.}}"); done; done <<< "$VAD_GRID"
jobs+=("ad" "ad variants.ad.beta=1.0" "ad variants.ad.beta=0.05" "ad variants.ad.init_scale=3.0" "ad train.lr_latent=0.3"
       "normal seed=1" "normal seed=2")
if [[ "${1:-}" == "--list" ]]; then printf '%s\n' "${jobs[@]}"; exit 0; fi

export PYTHONUNBUFFERED=1 PYTHONPATH="${PYTHONPATH:-}:." TQDM_DISABLE=1 OMP_NUM_THREADS=2
OUT=${OUT:-gpu_out}; mkdir -p "$OUT"
JOBS=${JOBS:-8}
t0=$(date +%s)
python3 stages/prepare.py > "$OUT/quality_sweep.log" 2>&1 && python3 stages/evaluator.py >> "$OUT/quality_sweep.log" 2>&1 \
  || { tail -20 "$OUT/quality_sweep.log"; exit 1; }
echo "prepare + evaluator: $(( $(date +%s) - t0 )) s" | tee -a "$OUT/quality_sweep.log"
printf '%s\n' "${jobs[@]}" | xargs -P "$JOBS" -I{} sh -c \
  'python3 scripts/evaluate_one.py {} --temperatures 1.0 0.9 2>>"$0/quality_sweep.err" >> "$0/quality_sweep.jsonl"' "$OUT"
echo "runs: ${#jobs[@]}, lines: $(wc -l < "$OUT/quality_sweep.jsonl"), wall $(( $(date +%s) - t0 )) s" \
  | tee -a "$OUT/quality_sweep.log"
