"""benchmarks/gpu_run.sh (a thin wrapper of gpu_run.py) must work the first time a GPU is lent: its --dry-run runs every
step on tiny data (a CPU is fine), a failing step stops the run, a second call skips the steps an earlier call
finished, and the full-scale step's files make reports/full_scale.md (`scripts/full_scale.py report --from`)."""
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from idx_fixtures import write_fashion_idx

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks/gpu_run.sh"


def _env(tmp_path, out, **extra):
    return {**os.environ, "OUT": str(out), "VADLIB_DATA_ROOT": str(tmp_path / "data"), "PYTHON": sys.executable,
            "OMP_NUM_THREADS": "1", **extra}


def test_a_bad_step_list_is_one_clear_error(tmp_path):
    (tmp_path / "data").mkdir()
    proc = subprocess.run(["bash", str(SCRIPT), "--dry-run"], env=_env(tmp_path, tmp_path / "out", STEPS="1 5"),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: STEPS: got '5', expected step numbers 1-4"


def test_a_failing_stage_fails_its_step_and_stops_the_run(tmp_path):
    """No IDX files: step 1's prepare stage fails, and the step stops there (nothing after it runs, no archive)."""
    (tmp_path / "data").mkdir()
    out = tmp_path / "out"
    proc = subprocess.run(["bash", str(SCRIPT), "--dry-run"], env=_env(tmp_path, out, STEPS="1 3"),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    log = (out / "step1.txt").read_text()
    assert log.endswith("step 1: FAILED\n") and "error: prepare failed" in log and "| variant |" not in log
    assert sorted(p.name for p in out.iterdir()) == ["step1.txt"]  # step 3 never started


@pytest.mark.slow
def test_the_dry_run_does_every_step_resumes_and_reports_full_scale(tmp_path):
    write_fashion_idx(tmp_path / "data", n_train=300, n_test=150)
    out = tmp_path / "out"
    prepared = ROOT / "data/prepared/train.pt"
    before = prepared.stat().st_mtime_ns if prepared.exists() else None
    proc = subprocess.run(["bash", str(SCRIPT), "--dry-run"], cwd=tmp_path, env=_env(tmp_path, out),
                          capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["step1.tar.gz", "step1.txt", "step2.tar.gz", "step2.txt",
                                                     "step3.txt", "step4.txt"]  # a device call brings back eight
    steps = {n: (out / f"step{n}.txt").read_text() for n in range(1, 5)}
    assert all(text.endswith(f"step {n}: done\n") for n, text in steps.items())
    # 1: every stage process timed, and each variant beside the committed figures
    assert "pipeline_wall" in steps[1] and "\nevaluate normal " in steps[1]
    assert "| variant | test course_loss: here / committed |" in steps[1]
    assert all(f"| {v} | " in steps[1] for v in ("ad", "normal", "uniform", "laplace"))
    # 2: the full-scale settings under the tiny sizes, throughput per variant, the report in the archive
    assert all(f"{v}: training " in steps[2] and " images/s" in steps[2] for v in ("ad", "normal", "uniform", "laplace"))
    with tarfile.open(out / "step2.tar.gz") as tar:
        tar.extractall(tmp_path / "full", filter="data")
    params = (tmp_path / "full/params.yaml").read_text()
    # full scale (vadlib/studies/full_scale.py's one copy of the settings), then the tiny overlay
    assert "batch_size: 512" not in params and "\n  lr_decoder: 0.002828\n" in params
    assert "## 3. the study grid" in steps[3] and " of 109 runs" in steps[3]
    assert all(f"precision {p}, batch 64: train " in steps[4] and f'"settings": ["precision={p}"' in steps[4]
               for p in ("float32", "tf32", "bf16"))
    after = prepared.stat().st_mtime_ns if prepared.exists() else None
    assert before == after, "the checkout's own pipeline outputs must stay untouched (scratch folders)"

    # a second call with the files of a first call that did not finish step 3: step 1 is skipped, step 3 runs
    done = tmp_path / "done"
    done.mkdir()
    (done / "step1.txt").write_text(steps[1])
    (done / "step3.txt").write_text(steps[3].replace("step 3: done\n", "step 3: FAILED\n"))
    again = subprocess.run(["bash", str(SCRIPT), "--dry-run"], cwd=tmp_path,
                           env=_env(tmp_path, tmp_path / "out2", DONE=str(done), STEPS="1 3"),
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"step 1: done in an earlier call ({done}/step1.txt), skipped" in again.stdout
    assert sorted(p.name for p in (tmp_path / "out2").iterdir()) == ["step3.txt"]

    # the full-scale report from the archive, written where the command runs
    report = subprocess.run([sys.executable, str(ROOT / "scripts/full_scale.py"), "report", "--from",
                             str(tmp_path / "full")], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert report.returncode == 0, report.stderr
    text = (tmp_path / "reports/full_scale.md").read_text()
    assert text.startswith("# Full scale: 40 train / 20 test images, one seed")
    assert "`benchmarks/gpu_run.sh`, step 2" in text and "| train@normal |" in text
    assert "## Answer" in text and "[study.md]" in text
    assert "study's seeds" not in text  # the study ran 1000 images, not this: its seeds are not borrowed
