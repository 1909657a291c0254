# The shared start of the GPU scripts, sourced as `source "$(dirname "$0")/gpu_common.sh" <name> "$@"`: strict mode,
# DRY=1 for --dry-run, REPO and PY, the environment the stages want, OUT (default $REPO/<name>_out) and
# VADLIB_DATA_ROOT made absolute, and `environment <name>`, which prints the time, the GPU, Python and torch.
set -euo pipefail
DRY=0; [[ "${2:-}" == "--dry-run" ]] && DRY=1
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-python3}
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TQDM_DISABLE=1 DVC_NO_ANALYTICS=1
OUT=$(mkdir -p "${OUT:-$REPO/$1_out}" && cd "${OUT:-$REPO/$1_out}" && pwd)
: "${VADLIB_DATA_ROOT:?set VADLIB_DATA_ROOT to the folder with the four Fashion-MNIST IDX files}"
export VADLIB_DATA_ROOT=$(cd "$VADLIB_DATA_ROOT" && pwd)

environment() {
  echo "# $1 $(date -u +%FT%TZ) dry_run=$DRY"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/gpu: /' \
    || echo "gpu: none (nvidia-smi absent)"
  "$PY" -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
}
