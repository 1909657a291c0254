"""The benchmark tools are not tests, but they must keep running: each is smoke-run on tiny data or checked by the
logic it adds (output folders, the sweep's job list, the pipeline's stage order, the quality table)."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from idx_fixtures import write_fashion_idx

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench", BENCH / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_quick_benchmark_writes_every_measurement(tmp_path):
    write_fashion_idx(tmp_path / "data", n_train=128, n_test=128)
    out = tmp_path / "bench"
    subprocess.run([sys.executable, str(BENCH / "bench.py"), "--quick", "--time-to-quality",
                    "--data-root", str(tmp_path / "data"), "--out", str(out)], check=True, cwd=ROOT,
                   capture_output=True, text=True, timeout=600)
    r = json.loads((out / "results.json").read_text())
    for key in ("train", "fit"):
        assert r[key]["ours_images_per_s"] > 0 and r[key]["naive_images_per_s"] > 0
    assert r["bound"]["bound_images_per_s"] > 0
    assert not {"target", "meets_target"} & (set(r["train"]) | set(r["bound"]))  # measured ratios only
    # the decoder's forward + backward FLOPs, counted by torch: 3x the forward's ~7.9 M multiply-adds
    assert 40 < r["roofline"]["train_mflop_per_image"] < 55
    assert r["time_to_quality"]["ours_test_course_loss"] > 0
    fits = r["time_to_quality"]["fit"]
    assert set(fits) == {"random", "nearest"} and all(f["test_course_loss"] > 0 for f in fits.values())
    assert any(f["seconds_to_within_1pct"] is not None for f in fits.values())  # the better one reaches its own bar
    table = (out / "results.md").read_text()
    assert "| measurement | ours | reference | ratio |\n" in table
    assert "| training, images/s vs naive |" in table and "within 1% of the converged loss" in table


def test_benchmark_output_goes_to_a_dated_machine_folder_a_given_folder_or_a_json_file(tmp_path):
    bench = _bench_module()
    cpu = {"gpu": None, "cpu_model": "Intel(R) Xeon(R) Processor"}
    assert bench.machine_slug({"gpu": None, "cpu_model": "AMD EPYC"}) == "amd-epyc"
    assert bench.machine_slug(cpu) == "intel-xeon"
    assert bench.machine_slug({"gpu": "NVIDIA H200", "cpu_model": "AMD EPYC"}) == "h200"
    json_path, md_path = bench.output_paths(None, cpu, today="2026-11-26")
    assert json_path == BENCH / "runs/2026-11-26-intel-xeon-bench/results.json" and md_path.name == "results.md"
    assert bench.output_paths(str(tmp_path), cpu) == (tmp_path / "results.json", tmp_path / "results.md")
    assert bench.output_paths(str(tmp_path / "b64.json"), cpu) == (tmp_path / "b64.json", tmp_path / "b64.md")


def test_fold_micro_benchmark_matches_the_kernel_and_writes_its_file(tmp_path):
    out = tmp_path / "convt_fold.json"
    subprocess.run([sys.executable, str(BENCH / "convt_fold.py"), "--batch-size", "4", "--steps", "1",
                    "--rounds", "1", "--out", str(out)], check=True, capture_output=True, text=True)
    rows = json.loads(out.read_text())["rows"]
    assert [r["layer"].split(" on")[0] for r in rows] == ["ConvTranspose2d(128,64,4,2,1)", "ConvTranspose2d(64,1,4,2,1)"]
    assert all(r["max_abs_diff"] < 1e-4 and r["fold_speedup_forward_backward"] > 0 for r in rows)


@pytest.mark.slow
def test_checkpoint_cost_writes_the_whole_loop_state_rows_and_both_moments(tmp_path):
    """2000 more `normal` rows add 2000 x 200 numbers x 4 bytes x 3 (rows, SparseAdam's two moments) = 4.8 MB: a
    checkpoint without the moments (the state that makes a resume exact) would add 1.6 MB."""
    sizes = []
    for n in (200, 2200):
        out = tmp_path / f"c{n}.json"
        subprocess.run([sys.executable, str(BENCH / "checkpoint_cost.py"), "--n", str(n), "--rounds", "2",
                        "--out", str(out)], check=True, capture_output=True, text=True)
        result = json.loads(out.read_text())
        assert result["n"] == n and len(result["seconds"]) == 2 and result["median_seconds"] > 0
        sizes.append(result["file_mb"])
    assert sizes[1] - sizes[0] == pytest.approx(4.8, rel=0.02)


@pytest.mark.slow
def test_impute_time_times_each_stage_and_the_fit_reference(tmp_path):
    out = tmp_path / "impute"
    subprocess.run([sys.executable, str(BENCH / "impute_time.py"), "--variants", "ad", "normal", "--threads", "1",
                    "--set", "impute.n_images=4", "--set", "impute.samples=2", "--set", "fit.epochs=1",
                    "--set", "data.n_test=8", "--out", str(out)], check=True, capture_output=True, text=True, cwd=ROOT)
    result = json.loads((out / "results.json").read_text())
    assert list(result["stages"]) == ["impute@ad", "impute@normal", "impute_baselines"]
    assert all(row["seconds"] > 0 for row in result["stages"].values())
    assert result["reference"]["stage"] == "fit@ad" and result["total_over_reference"] > 0
    assert result["impute"]["n_images"] == 4 and "| **total** |" in (out / "results.md").read_text()


def _sweep_row(variant, settings, temperature, recognisable_vs_real):
    return {"variant": variant, "settings": settings, "temperature": temperature, "test_course_loss": 0.09876,
            "train_course_loss": 0.04, "best_sampler": "class_gmm", "best_fd": 8.1, "fd_vs_baseline": 0.134,
            "recognisable": 0.76, "recognisable_vs_real": recognisable_vs_real, "min_class_share": 0.087,
            "nn_train_ratio": 0.916, "knn_accuracy": 0.769, "knn_cosine_accuracy": 0.791, "train_fit_seconds": 30.0}


def test_quality_table_groups_by_variant_and_ranks_by_recognisable_share(tmp_path):
    jsonl = tmp_path / "quality_sweep.jsonl"
    rows = [_sweep_row("normal", [], 1.0, 0.80), _sweep_row("ad", ["variants.ad.beta=1.0"], 0.9, 0.70),
            _sweep_row("normal", ["train.lr_latent=0.3"], 0.9, 0.85), _sweep_row("ad", [], 1.0, 0.75)]
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    out = subprocess.run([sys.executable, str(BENCH / "quality_table.py"), str(jsonl)], check=True,
                         capture_output=True, text=True).stdout
    lines = out.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:3] == ["variant", "settings", "T"] and header[-1] == "5-NN cosine"
    assert lines[1] == "|" + "---|" * len(header) and len(lines) == 2 + len(rows)
    body = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert [(r[0], r[1], r[header.index("vs real")]) for r in body] == [
        ("ad", "(defaults)", "0.750"), ("ad", "`variants.ad.beta=1.0`", "0.700"),
        ("normal", "`train.lr_latent=0.3`", "0.850"), ("normal", "(defaults)", "0.800")]
    assert body[0][header.index("test course_loss")] == "0.0988" and body[1][header.index("T")] == "0.9"
    assert all(len(r) == len(header) for r in body)


def test_quality_sweep_jobs_are_valid_settings_of_each_variant():
    from vadlib.infra.config import load_params, parse_params
    from vadlib.infra.overrides import apply_override

    out = subprocess.run(["bash", str(BENCH / "quality_sweep.sh"), "--list"], check=True, capture_output=True,
                         text=True, cwd=ROOT, timeout=60).stdout
    jobs = [line.split() for line in out.splitlines()]
    assert len(jobs) == 37 and len({tuple(j) for j in jobs}) == 37
    base = load_params(ROOT / "params.yaml")
    for variant, *settings in jobs:
        assert variant in base.variants
        # a per-variant setting names the job's own variant: the grid's `.V.` was replaced
        assert all(s.split(".")[1] == variant for s in settings if s.startswith("variants."))
        raw = yaml.safe_load((ROOT / "params.yaml").read_text())
        for s in settings:
            apply_override(raw, s)
        cfg = parse_params(raw)  # raises on an unknown key or a bad value
        assert cfg.data == base.data and cfg.evaluator == base.evaluator  # what `tune evaluate` refuses
    assert [v for v, *s in jobs if not s] == ["normal", "uniform", "laplace", "ad"]  # each variant's defaults


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # from inside DVC
def test_gpu_pipeline_runs_every_dvc_stage_once_after_the_stages_it_reads():
    from dvc.repo import Repo

    env = {**os.environ, "PYTHON": sys.executable, "DVC_NO_ANALYTICS": "1"}
    out = subprocess.run(["bash", str(BENCH / "gpu_pipeline.sh"), "--list"], check=True, capture_output=True,
                         text=True, cwd=ROOT, env=env, timeout=120).stdout
    order = ["python " + line for line in out.splitlines()]
    with Repo(str(ROOT)) as repo:  # DVC's own reading of dvc.yaml: its stages and their dependency graph
        stages = list(repo.index.stages)
        edges = [(u.cmd, v.cmd) for u, v in repo.index.graph.edges]  # u reads an output of v
    assert sorted(order) == sorted(s.cmd for s in stages)
    position = {cmd: i for i, cmd in enumerate(order)}
    assert edges and all(position[v] < position[u] for u, v in edges)


def test_gpu_pipeline_runs_a_project_in_dependency_order_and_times_each_process(tmp_path):
    (tmp_path / "benchmarks").mkdir()
    for tool in ("gpu_pipeline.sh", "run_stages.py"):
        (tmp_path / "benchmarks" / tool).write_text((BENCH / tool).read_text())
    (tmp_path / "stages").mkdir()
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/m.json").write_text("{}")
    (tmp_path / "params.yaml").write_text("variants:\n  x: {}\n  y: {}\n")
    # listed before the stage it reads: the script must still run `make` first
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  use:\n    foreach: ${variants}\n    do:\n      cmd: python stages/use.py ${key}\n"
        "      deps:\n        - made.txt\n      outs:\n        - used_${key}.txt\n"
        "  make:\n    cmd: python stages/make.py\n    outs:\n      - made.txt\n")
    (tmp_path / "stages/make.py").write_text("open('made.txt', 'w').write('m')\nprint('made')\n")
    (tmp_path / "stages/use.py").write_text(
        "import sys\nassert open('made.txt').read() == 'm'\nopen(f'used_{sys.argv[1]}.txt', 'w').write('u')\n"
        "print('used', sys.argv[1])\n")
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path / "out")}
    proc = subprocess.run(["bash", "benchmarks/gpu_pipeline.sh"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = (tmp_path / "out/pipeline.txt").read_text().splitlines()
    timed = [line.rsplit(" ", 1)[0] for line in report if line[:1].isalpha() and line.split()[-1][0].isdigit()]
    assert timed == ["make", "use x", "use y", "pipeline_wall"]
    assert report[-3:] == ["made", "used x", "used y"]  # each stage's own last line
    assert (tmp_path / "out/metrics/m.json").exists() and (tmp_path / "used_y.txt").exists()
    # two at a time: `make` still comes first (both `use` stages read it), then the two side by side
    (tmp_path / "made.txt").unlink()
    proc = subprocess.run(["bash", "benchmarks/gpu_pipeline.sh"], cwd=tmp_path, env={**env, "JOBS": "2"},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = (tmp_path / "out/pipeline.txt").read_text().splitlines()
    timed = [line.rsplit(" ", 1)[0] for line in report if line[:1].isalpha() and line.split()[-1][0].isdigit()]
    assert timed[0] == "make" and sorted(timed[1:3]) == ["use x", "use y"] and timed[3] == "pipeline_wall"
    assert "(--jobs 2)" in "\n".join(report)


def test_a_failing_stage_stops_the_run_with_its_log(tmp_path):
    (tmp_path / "stages").mkdir()
    (tmp_path / "params.yaml").write_text("variants:\n  x: {}\n")
    (tmp_path / "dvc.yaml").write_text("stages:\n  bad:\n    cmd: python stages/bad.py\n")
    (tmp_path / "stages/bad.py").write_text("print('the reason')\nraise SystemExit(3)\n")
    proc = subprocess.run([sys.executable, str(BENCH / "run_stages.py"), "--project", str(tmp_path), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "error: bad failed (exit 3):" in proc.stderr and "the reason" in proc.stderr
    assert not (tmp_path / "out/pipeline.txt").exists()
