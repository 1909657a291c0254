#!/usr/bin/env bash
# The default pipeline without DVC (a GPU image may have none): every stage of dvc.yaml, its `foreach` stages
# expanded over params.yaml's variants, one process each as `dvc repro` runs them, in an order where every stage
# follows the stages whose outputs it reads; each process timed with its imports and device start-up. The stages
# write their outputs in the checkout, as `dvc repro` does. From the repo root of the GPU machine's copy:
#   OUT=<folder> VADLIB_DATA_ROOT=<IDX folder> bash benchmarks/gpu_pipeline.sh
#   bash benchmarks/gpu_pipeline.sh --list    # print the stage commands in that order; run nothing
# Writes $OUT/pipeline.txt (environment, seconds per stage process, the whole wall time, each stage's last line),
# each stage's log in $OUT/logs/ and a copy of metrics/ in $OUT/metrics/.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
STAGES=$("$PY" - "$REPO" <<'PY'
import sys
from pathlib import Path
import yaml

repo = Path(sys.argv[1])
dvc = yaml.safe_load((repo / "dvc.yaml").read_text())
variants = list(yaml.safe_load((repo / "params.yaml").read_text())["variants"])

def paths(items):
    return [next(iter(i)) if isinstance(i, dict) else i for i in items or []]

stages = []  # (command without `python `, deps, outs), foreach stages expanded in variant order
for name, spec in dvc["stages"].items():
    if "foreach" in spec:
        assert spec["foreach"] == "${variants}", f"{name}: only `foreach: ${{variants}}` is understood"
        expanded = [(v, spec["do"]) for v in variants]
    else:
        expanded = [(None, spec)]
    for key, body in expanded:
        sub = (lambda s: s.replace("${key}", key)) if key else (lambda s: s)
        cmd = sub(body["cmd"])
        assert cmd.startswith("python "), f"{name}: expected a `python ...` command, got {cmd!r}"
        outs = [sub(p) for k in ("outs", "metrics", "plots") for p in paths(body.get(k))]
        stages.append((cmd[len("python "):], [sub(p) for p in paths(body.get("deps"))], outs))

def reads(dep, out):
    dep, out = dep.rstrip("/"), out.rstrip("/")
    return dep == out or out.startswith(dep + "/") or dep.startswith(out + "/")

done, order = set(), []
while len(order) < len(stages):  # stable: the first stage in dvc.yaml's order whose producers have all run
    i = next((i for i, (_, deps, _) in enumerate(stages) if i not in done and all(
        j in done for j, (_, _, outs) in enumerate(stages) if j != i for d in deps for o in outs if reads(d, o))), None)
    assert i is not None, "dvc.yaml's stages depend on each other in a cycle"
    done.add(i)
    order.append(stages[i][0])
print("\n".join(order))
PY
)
if [[ "${1:-}" == "--list" ]]; then echo "$STAGES"; exit 0; fi

cd "$REPO"
export PYTHONUNBUFFERED=1 PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" TQDM_DISABLE=1
OUT=${OUT:-gpu_out}; mkdir -p "$OUT/logs"
REPORT=$OUT/pipeline.txt
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "gpu: none"
  "$PY" -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
  echo "# seconds per stage process, imports and device start-up included"
} > "$REPORT"
elapsed() { "$PY" -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$@"; }
t0=$(date +%s.%N)
while read -r script args; do
  log="$OUT/logs/$(basename "$script" .py)${args:+_$args}.txt"
  t=$(date +%s.%N)
  "$PY" "$script" $args > "$log" 2>&1 || { tail -20 "$log"; exit 1; }
  echo "$(basename "$script" .py)${args:+ $args} $(elapsed "$t" "$(date +%s.%N)")" | tee -a "$REPORT"
done <<< "$STAGES"
echo "pipeline_wall $(elapsed "$t0" "$(date +%s.%N)")" | tee -a "$REPORT"
echo "# the stages' own last lines" >> "$REPORT"
for log in "$OUT"/logs/*.txt; do tail -1 "$log"; done >> "$REPORT"
cp -r metrics "$OUT/metrics"
