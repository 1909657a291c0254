#!/usr/bin/env bash
# The GPU run: one call, in this order, each step in its own scratch copy of the project (the checkout's results are
# never touched), everything under $OUT in at most six files (a device call brings back eight):
#   1. the default pipeline (1000 / 1000 images), every stage, float32 strict: seconds per stage process and in all,
#      and each variant's test course_loss and best-sampler FD beside the checkout's committed (CPU) figures;
#   2. the full-scale pipeline (60,000 / 10,000 images, `scripts/full_scale.py settings`), four variants: seconds per
#      stage, training and fitting images/s, peak GPU memory, and the report stage's report.md;
#   3. the study grid: which of its runs `reports/study/runs.csv` still lacks (they run with `scripts/study.py
#      queue` where DVC is; the device image has none);
#   4. `precision: tf32` and `bf16` against float32 on the default recipe: images/s (benchmarks/bench.py) and test
#      course_loss (scripts/tune_one.py, `normal`).
# Step N writes $OUT/stepN.txt, ending in "step N: done" (steps 1 and 2 also stepN.tar.gz: the scratch project's
# params, metrics/, reports/ and stage logs). A step whose finished stepN.txt lies in $DONE (a folder holding an
# earlier call's files) is skipped, so a second call resumes where the first stopped.
#   OUT=<folder> VADLIB_DATA_ROOT=<IDX folder> [DONE=<folder>] [STEPS="1 2 3 4"] [JOBS=4] bash benchmarks/gpu_run.sh
#   ... bash benchmarks/gpu_run.sh --dry-run   # every step on tiny sizes and epochs: minutes, a CPU is fine
source "$(dirname "$0")/gpu_common.sh" gpu_run "$@"
STEPS=${STEPS:-1 2 3 4}
JOBS=${JOBS:-4}  # stage processes at a time in steps 1 and 2: the four variants' chains side by side
WORK=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
# tiny sizes for --dry-run, laid over each step's settings (the IDX files then need >= 160 train images)
TINY=(data.n_train=40 data.n_test=20 data.verify_md5=false data.evaluator_pool=unused model.latent_dim=8
      train.epochs=2 train.batch_size=16 fit.epochs=2 fit.batch_size=16 tsne.n_points=20 tsne.max_iter=250
      render.n_samples=10 render.interp_pairs=2 evaluator.epochs=1 evaluator.n_val=100 quality.n_samples=20)
(( DRY )) || TINY=()

done_already() { [[ -n "${DONE:-}" && -f "$DONE/step$1.txt" ]] && tail -1 "$DONE/step$1.txt" | grep -qx "step $1: done"; }
# project DIR SETTING...: a scratch copy of the pipeline (code, dvc.yaml, the report's committed inputs) whose
# params.yaml is the checkout's with the settings applied (dotted key=value, as `dvc exp run -S` takes them)
project() {
  local dir=$1; shift
  mkdir -p "$dir/reports/study"
  cp -r "$REPO/stages" "$REPO/vadlib" "$REPO/benchmarks" "$REPO/dvc.yaml" "$dir/"
  cp "$REPO/reports/seed_noise.json" "$dir/reports/"
  cp "$REPO/reports/study/runs.csv" "$dir/reports/study/"
  "$PY" - "$REPO/params.yaml" "$dir/params.yaml" "data.download=false" "$@" <<'PY'
import sys
import yaml
from vadlib.workflows.proxy import apply_override
raw = yaml.safe_load(open(sys.argv[1]))
for setting in sys.argv[3:]:
    apply_override(raw, setting)
yaml.safe_dump(raw, open(sys.argv[2], "w"), sort_keys=False)
PY
}

# pipeline DIR STEP: every stage in the scratch project (benchmarks/gpu_pipeline.sh, JOBS stage processes at a time),
# peak GPU memory sampled beside it; then the project's results packed into $OUT/stepSTEP.tar.gz
pipeline() {
  local dir=$1 step=$2 sampler=""
  if nvidia-smi > /dev/null 2>&1; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 500 > "$WORK/gpu_mem_$step.txt" &
    sampler=$!
  fi
  (cd "$dir" && OUT="$dir/run" JOBS="$JOBS" PYTHON="$PY" bash benchmarks/gpu_pipeline.sh > /dev/null)
  [[ -n "$sampler" ]] && kill "$sampler" && wait "$sampler" 2>/dev/null || true
  cat "$dir/run/pipeline.txt"
  [[ -s "$WORK/gpu_mem_$step.txt" ]] && echo "peak GPU memory used (nvidia-smi every 0.5 s): $(sort -n "$WORK/gpu_mem_$step.txt" | tail -1) MiB"
  tar -czf "$OUT/step$step.tar.gz" -C "$dir" params.yaml metrics reports run/logs
}

step1() {
  environment gpu_run
  echo "## 1. the default pipeline, float32 strict"
  project "$WORK/default" precision=float32 "${TINY[@]}"
  pipeline "$WORK/default" 1
  "$PY" - "$WORK/default" "$REPO" <<'PY'
import json, sys
from pathlib import Path
run, repo = Path(sys.argv[1]), Path(sys.argv[2])
print("| variant | test course_loss: here / committed | best sampler: FD here / committed |\n|---|---|---|")
for path in sorted((run / "metrics/variants").glob("*.json")):
    here, committed = json.loads(path.read_text()), repo / "metrics/variants" / path.name
    cpu = json.loads(committed.read_text()) if committed.exists() else None
    best = lambda m: f"{m['best_sampler']['name']} {m['samples'][m['best_sampler']['name']]['fd']:.2f}"
    print(f"| {path.stem} | {here['test']['course_loss']:.4f} / {cpu['test']['course_loss']:.4f} | "
          f"{best(here)} / {best(cpu)} |" if cpu else f"| {path.stem} | {here['test']['course_loss']:.4f} / – | "
          f"{best(here)} / – |")
PY
}

step2() {
  environment gpu_run
  echo "## 2. the full-scale pipeline"
  mapfile -t FULL < <("$PY" "$REPO/scripts/full_scale.py" settings)
  project "$WORK/full" "${FULL[@]}" "${TINY[@]}"
  pipeline "$WORK/full" 2
  "$PY" - "$WORK/full" <<'PY'
import json, sys
from pathlib import Path
import yaml
run = Path(sys.argv[1])
p = yaml.safe_load((run / "params.yaml").read_text())
n_train, n_test = p["data"]["n_train"], p["data"]["n_test"]
fitted = n_test + (n_train if p["fit"]["refit_train"] else 0)
for path in sorted((run / "metrics/seconds/train").glob("*.json")):
    train = json.loads(path.read_text())
    fit = json.loads((run / "metrics/seconds/fit" / path.name).read_text())
    print(f"{path.stem}: training {n_train * p['train']['epochs'] / train['train_seconds']:,.0f} images/s "
          f"({train['train_seconds']} s, {train['device']}), fitting {fitted * p['fit']['epochs'] / fit['fit_seconds']:,.0f}"
          f" images/s ({fit['fit_seconds']} s)")
PY
}

step3() {
  echo "## 3. the study grid"
  (cd "$REPO" && "$PY" - <<'PY'
from vadlib.infra.config import load_params
from vadlib.workflows import study
expected = study.grid(load_params().variants[study.AD].beta)
have = {study.row_key(r) for r in study.read_rows(study.TABLE)}
missing = [r.name for r in expected if r.key not in have]
print(f"{study.TABLE} holds {len(expected) - len(missing)} of {len(expected)} runs")
if missing:
    print("missing (run them with `python scripts/study.py queue` where DVC is): " + ", ".join(missing))
PY
  )
}

step4() {
  environment gpu_run
  echo "## 4. precision options on the default recipe (normal)"
  local bench=(--epochs 4 --rounds 2) tune=(--n-test 1000)
  (( DRY )) && { bench=(--quick); tune=(--n-test 20); }
  for P in float32 tf32 bf16; do
    "$PY" "$REPO/benchmarks/bench.py" "${bench[@]}" --n "$( (( DRY )) && echo 128 || echo 1000)" --batch-size 64 \
      --precision "$P" --data-root "$VADLIB_DATA_ROOT" --out "$WORK/bench_$P.json" > /dev/null
    "$PY" -c "import json, sys; r = json.load(open(sys.argv[1])); print(f\"precision {r['precision']}, batch 64: train {r['train']['ours_images_per_s']} images/s, fit {r['fit']['ours_images_per_s']} images/s\")" \
      "$WORK/bench_$P.json"
    (cd "$REPO" && "$PY" scripts/tune_one.py normal "${tune[@]}" precision=$P data.download=false \
      $( (( DRY )) && echo "train.epochs=2 fit.epochs=2 data.n_train=64 data.verify_md5=false")) | tail -1
  done
}

for N in $STEPS; do  # all checked before any runs
  [[ "$N" =~ ^[1-4]$ ]] || { echo "error: STEPS: got '$N', expected step numbers 1-4" >&2; exit 2; }
done
for N in $STEPS; do
  if done_already "$N"; then echo "step $N: done in an earlier call ($DONE/step$N.txt), skipped"; continue; fi
  t=$(date +%s)
  # a subshell outside any condition, so `set -e` holds inside the step: its first failing command ends it (and
  # the step's background memory sampler with it)
  set +e; ( set -e; trap 'kill $(jobs -p) 2>/dev/null || true' EXIT; "step$N" ) > "$WORK/step$N.txt" 2>&1; rc=$?
  set -e
  if (( rc )); then
    echo "step $N: FAILED" >> "$WORK/step$N.txt"; cp "$WORK/step$N.txt" "$OUT/step$N.txt"; cat "$OUT/step$N.txt"; exit 1
  fi
  echo "step $N seconds: $(( $(date +%s) - t ))" >> "$WORK/step$N.txt"
  echo "step $N: done" >> "$WORK/step$N.txt"
  cp "$WORK/step$N.txt" "$OUT/step$N.txt"
  cat "$OUT/step$N.txt"
done
