"""benchmarks/gpu_check.sh (a thin wrapper of gpu_check.py) must keep working on the GPU machine that runs it: its
--dry-run, on tiny data."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from idx_fixtures import write_fashion_idx

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_check_dry_run_writes_every_section(tmp_path):
    write_fashion_idx(tmp_path / "data", n_train=300, n_test=150)
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "VADLIB_DATA_ROOT": str(tmp_path / "data"), "OMP_NUM_THREADS": "1",
           "PYTHON": sys.executable}
    prepared = ROOT / "data/prepared/train.pt"
    before = prepared.stat().st_mtime_ns if prepared.exists() else None
    proc = subprocess.run(["bash", str(ROOT / "benchmarks/gpu_check.sh"), "--dry-run"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = (out / "gpu_check.txt").read_text()
    for expected in ("dry_run=1", "## 1. cuda tests", "batch 64, N=", "batch 512, N=", "precision tf32, batch 512",
                     "precision bf16, batch 512", '"settings": ["precision=bf16"',
                     "full-scale normal: train course_loss", "full-scale seconds: prepare", "done"):
        assert expected in report, report
    assert (out / "bench_b64.json").exists() and (out / "bench_b512.json").exists()
    after = prepared.stat().st_mtime_ns if prepared.exists() else None
    assert before == after, "the checkout's own pipeline outputs must stay untouched (scratch folder)"
