#!/usr/bin/env bash
# Issue 13's recipe search on a CUDA machine: train + fit the 1000 test images (scripts/tune_one.py, no train refit)
# for each (variant, settings) line below, 6 runs at a time on one GPU, one JSON line per run. GPU numbers rank
# recipes; the chosen one is then confirmed on the CPU by `dvc repro`. Usage on the GPU machine, from the repo root:
#   OUT=<folder> VADLIB_DATA_ROOT=<IDX folder> bash benchmarks/recipe_sweep.sh
set -uo pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH="${PYTHONPATH:-}:." TQDM_DISABLE=1
OUT=${OUT:-gpu_out}; mkdir -p "$OUT"
GRID=$(cat <<'G'

fit.init=nearest fit.lr=0.05 fit.epochs=100
fit.init=nearest fit.lr=0.05 fit.epochs=50
fit.init=nearest fit.lr=0.2 fit.epochs=50
fit.init=nearest fit.lr=0.01 fit.epochs=50
fit.epochs=300
fit.lr=2.0
fit.epochs=100
train.epochs=120
train.epochs=400
train.lr_latent=0.2
train.lr_latent=1.0
train.weight_decay=1.0
train.weight_decay=4.0
train.batch_size=128 train.lr_decoder=0.002
train.batch_size=32
train.warmup_epochs=5
train.epochs=120 fit.init=nearest fit.lr=0.05 fit.epochs=50
G
)
jobs=()
while IFS= read -r line; do for v in ad normal; do jobs+=("$v $line"); done; done <<< "$GRID"
printf '%s\n' "${jobs[@]}" | xargs -P 6 -I{} sh -c \
  'python3 scripts/tune_one.py --n-test 1000 {} 2>>"$0/recipe_sweep.err" | tail -1 >> "$0/recipe_sweep.jsonl"' "$OUT"
wc -l "$OUT/recipe_sweep.jsonl"
