"""The benchmark is not a test, but it must keep running: smoke-run it on tiny synthetic data."""
import json
import subprocess
import sys
from pathlib import Path

from idx_fixtures import write_fashion_idx

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_writes_every_measurement(tmp_path):
    write_fashion_idx(tmp_path / "data", n_train=128, n_test=128)
    out = tmp_path / "results.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--quick", "--time-to-quality",
                    "--data-root", str(tmp_path / "data"), "--out", str(out)], check=True, cwd=ROOT,
                   capture_output=True, text=True, timeout=600)
    r = json.loads(out.read_text())
    for key in ("train", "fit"):
        assert r[key]["ours_images_per_s"] > 0 and r[key]["naive_images_per_s"] > 0
    assert r["bound"]["bound_images_per_s"] > 0
    # the decoder's forward + backward FLOPs, counted by torch: 3x the forward's ~7.9 M multiply-adds
    assert 40 < r["roofline"]["train_mflop_per_image"] < 55
    assert r["time_to_quality"]["ours_test_course_loss"] > 0
    fits = r["time_to_quality"]["fit"]
    assert set(fits) == {"random", "nearest"} and all(f["test_course_loss"] > 0 for f in fits.values())
    assert any(f["seconds_to_within_1pct"] is not None for f in fits.values())  # the better one reaches its own bar
    table = out.with_suffix(".md").read_text()
    assert "| training, images/s vs naive |" in table and "within 1% of the converged loss" in table


def test_fold_micro_benchmark_matches_the_kernel_and_writes_its_file(tmp_path):
    out = tmp_path / "convt_fold.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "convt_fold.py"), "--batch-size", "4", "--steps", "1",
                    "--rounds", "1", "--out", str(out)], check=True, capture_output=True, text=True)
    rows = json.loads(out.read_text())["rows"]
    assert [r["layer"].split(" on")[0] for r in rows] == ["ConvTranspose2d(128,64,4,2,1)", "ConvTranspose2d(64,1,4,2,1)"]
    assert all(r["max_abs_diff"] < 1e-4 and r["fold_speedup_forward_backward"] > 0 for r in rows)
