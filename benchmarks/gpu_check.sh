#!/usr/bin/env bash
# The GPU check, one script to run as it is on a GPU machine (budget about 10 minutes):
#   1. the `cuda`-marked tests;  2. the benchmark on the device at batch 64 and at the large-N batch (ours vs the
#   compute bound measured the same way), the speed ideas at batch 64 (torch.compile, CUDA graphs, channels_last,
#   fused Adam, batch sizes), and the tf32 / bf16 options' speed and quality;  3. one full-scale variant (60k/10k)
#   train + fit, end to end, timed.
# Every figure lands in $OUT/gpu_check.txt (plus the benchmark JSONs). Runs in a scratch folder: the checkout's
# own pipeline outputs are never touched.
#   OUT=<folder> VADLIB_DATA_ROOT=<IDX folder> bash benchmarks/gpu_check.sh            # on the GPU machine
#   OUT=<folder> VADLIB_DATA_ROOT=<IDX folder> bash benchmarks/gpu_check.sh --dry-run  # tiny sizes, CPU is fine
source "$(dirname "$0")/gpu_common.sh" gpu_check "$@"
REPORT=$OUT/gpu_check.txt
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
LARGE_BATCH=512                       # the large-N batch (docs/performance.md, "Full scale")
# the ideas (--ideas) compile the decoder: minutes on a CPU, so the dry run leaves them out
if (( DRY )); then N_TRAIN=256; N_TEST=128; BENCH=(--quick); IDEAS=(); BENCH_N=128; TRAIN_EPOCHS=1; FIT_EPOCHS=1
else N_TRAIN=60000; N_TEST=10000; BENCH=(--epochs 4 --rounds 2); IDEAS=(--ideas); BENCH_N=10000
     TRAIN_EPOCHS=${TRAIN_EPOCHS:-150}; FIT_EPOCHS=${FIT_EPOCHS:-150}; fi
note() { echo "$*" | tee -a "$REPORT"; }
elapsed() { "$PY" -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$@"; }

: > "$REPORT"
environment gpu_check | tee -a "$REPORT"

note "## 1. cuda tests"
(cd "$REPO" && "$PY" -m pytest -q -p no:cacheprovider -m cuda tests/ 2>&1 | tail -15) | tee -a "$REPORT" \
  || note "cuda tests: FAILED (above); the check goes on"

note "## 2. benchmark (images/s: ours vs the compute bound, same device, same run)"
for B in 64 "$LARGE_BATCH"; do  # the large batch over 10k images: enough steps per epoch to time
  N=1000; EXTRA=("${IDEAS[@]}"); [[ "$B" == "$LARGE_BATCH" ]] && { N=$BENCH_N; EXTRA=(); }
  "$PY" "$REPO/benchmarks/bench.py" "${BENCH[@]}" "${EXTRA[@]}" --n "$N" --batch-size "$B" \
    --data-root "$VADLIB_DATA_ROOT" --out "$OUT/bench_b$B.json" > /dev/null
  "$PY" - "$OUT/bench_b$B.json" "$B" <<'PY' | tee -a "$REPORT"
import json, sys
r = json.load(open(sys.argv[1]))
print(f"batch {sys.argv[2]}, N={r['n']}: train {r['train']['ours_images_per_s']} images/s (bound {r['bound']['bound_images_per_s']}, "
      f"{r['bound']['ours_fraction']} of it), fit {r['fit']['ours_images_per_s']} images/s, device {r['machine']['device']}")
if isinstance(r["ideas"], dict):
    for row in r["ideas"]["rows"]:
        print(f"  idea, {row['mode']}: {row['idea']}: {row['images_per_s']} images/s = {row['vs_default']}x our default step")
PY
done

note "## 2b. precision options at the large batch (our training and fitting images/s), and their quality"
for P in tf32 bf16; do
  "$PY" "$REPO/benchmarks/bench.py" "${BENCH[@]}" --n "$BENCH_N" --batch-size "$LARGE_BATCH" --precision "$P" \
    --data-root "$VADLIB_DATA_ROOT" --out "$OUT/bench_b${LARGE_BATCH}_$P.json" > /dev/null
  "$PY" -c "import json, sys; r = json.load(open(sys.argv[1])); print(f\"precision {r['precision']}, batch $LARGE_BATCH: train {r['train']['ours_images_per_s']} images/s, fit {r['fit']['ours_images_per_s']} images/s\")" \
    "$OUT/bench_b${LARGE_BATCH}_$P.json" | tee -a "$REPORT"
done
QUALITY=(); (( DRY )) && QUALITY=(train.epochs=2 fit.epochs=2 data.n_train=64 data.verify_md5=false)
for P in float32 tf32 bf16; do  # the default 1000/1000 recipe for one variant: does the option cost quality?
  (cd "$REPO" && "$PY" scripts/tune_one.py normal --n-test "$( (( DRY )) && echo 32 || echo 1000)" \
     precision=$P data.download=false "${QUALITY[@]}") | tail -1 | tee -a "$REPORT"
done

note "## 3. full scale: one variant, n_train=$N_TRAIN n_test=$N_TEST, train + fit"
"$PY" - "$REPO/params.yaml" "$WORK/params.yaml" "$N_TRAIN" "$N_TEST" "$LARGE_BATCH" "$TRAIN_EPOCHS" "$FIT_EPOCHS" "$DRY" <<'PY'
import math, sys, yaml
src, dst, n_train, n_test, batch, train_epochs, fit_epochs, dry = sys.argv[1:]
p = yaml.safe_load(open(src))
p["data"].update(n_train=int(n_train), n_test=int(n_test), download=False, verify_md5=not int(dry))
# the large-N rule: decoder lr grows with sqrt(batch / 64); each latent row still gets one
# update per epoch, so the latent and fit learning rates stay
p["train"].update(batch_size=int(batch), epochs=int(train_epochs), checkpoint_every=0,
                  lr_decoder=p["train"]["lr_decoder"] * math.sqrt(int(batch) / 64))
p["fit"].update(epochs=int(fit_epochs), batch_size=8 * int(batch), refit_train=False)
yaml.safe_dump(p, open(dst, "w"))
PY
cd "$WORK"
t0=$(date +%s.%N)
"$PY" "$REPO/stages/prepare.py" > prepare.log 2>&1 || { tail -5 prepare.log; exit 1; }
t1=$(date +%s.%N)
TIMED=(); [[ -x /usr/bin/time ]] && TIMED=(/usr/bin/time -f "peak host memory of that step: %M KiB" -a -o "$REPORT")
"${TIMED[@]}" "$PY" "$REPO/stages/train.py" normal 2>&1 | tail -1 | tee -a "$REPORT"
t2=$(date +%s.%N)
"${TIMED[@]}" "$PY" "$REPO/stages/fit.py" normal 2>&1 | tail -1 | tee -a "$REPORT"
t3=$(date +%s.%N)
"$PY" - <<'PY' | tee -a "$REPORT"
import torch
from vadlib.infra import paths
from vadlib.infra.data import load_prepared
from vadlib.workflows.checkpoint import load_fitted, load_trained
from vadlib.workflows.evaluate import reconstruction
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
m = reconstruction(load_trained(paths.model("normal"), device), load_fitted(paths.fitted("normal")),
                   load_prepared(paths.TRAIN_DATA), load_prepared(paths.TEST_DATA))
print("full-scale normal: train course_loss", round(m["train"]["course_loss"], 5),
      "test course_loss", round(m["test"]["course_loss"], 5))
PY
note "full-scale seconds: prepare $(elapsed "$t0" "$t1"), train $(elapsed "$t1" "$t2"), fit $(elapsed "$t2" "$t3")"
note "done"
