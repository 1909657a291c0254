"""End to end: the real dvc.yaml on tiny synthetic data in a throwaway git repo."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from idx_fixtures import write_fashion_idx

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ["ad", "normal", "uniform", "laplace"]


def _run(cmd, cwd, env):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def _ran_stages(output):
    return sorted(line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage"))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    repo = tmp_path_factory.mktemp("e2e") / "project"
    shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(
        ".venv", ".git", "data", "models", "checkpoints", "dvc_plots", "__pycache__", ".pytest_cache", "*.egg-info",
        "dvc.lock", "reports", "metrics", "plots", "tmp", "cache"))
    raw = repo.parent / "raw"
    write_fashion_idx(raw, n_train=60, n_test=30)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"].update(root=str(raw), verify_md5=False, download=False, n_train=40, n_test=20)
    params["model"]["latent_dim"] = 8
    params["train"].update(epochs=2, batch_size=16)
    params["fit"].update(epochs=2, batch_size=16)
    params["tsne"].update(n_points=20, max_iter=250)
    params["render"].update(n_samples=10, interp_pairs=2)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VADLIB_DATA_ROOT", None)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init"]):
        _run(cmd, repo, env)
    first = _run(["dvc", "repro"], repo, env)
    return repo, env, first


def test_every_stage_runs_and_every_output_parses(project):
    repo, env, first = project
    expected = {"prepare", "report"} | {f"{s}@{v}" for s in ("train", "fit", "evaluate", "tsne", "render") for v in VARIANTS}
    assert set(_ran_stages(first)) == expected
    for v in VARIANTS:
        m = json.loads((repo / f"metrics/variants/{v}.json").read_text())
        for split in ("train", "train_refit", "test"):
            assert 0 < m[split]["course_loss"] < 1 and m[split]["mse"] > 0
        assert ("kl" in m["test"]) == (v != "ad")
        ck = torch.load(repo / f"models/{v}.pt", weights_only=True)
        assert ck["latents"].shape[0] == 40
        fitted = torch.load(repo / f"data/fitted/{v}.pt", weights_only=True)
        assert fitted["test"].shape[0] == 20 and fitted["train_refit"].shape[0] == 40
        for csv in (f"plots/train/{v}.csv", f"plots/fit/{v}.csv", f"plots/tsne/{v}_train.csv", f"plots/tsne/{v}_test.csv"):
            lines = (repo / csv).read_text().splitlines()
            assert len(lines) >= 3 and "," in lines[0], csv
        for png in ("reconstructions", "samples", "interpolations", "tsne"):
            assert (repo / f"plots/images/{v}/{png}.png").read_bytes()[:4] == b"\x89PNG"
    assert (repo / "plots/images/comparison.png").exists()
    report = (repo / "reports/report.md").read_text()
    assert all(f"## {v}" in report for v in VARIANTS) and "0.1186" in report
    data = json.loads((repo / "metrics/data.json").read_text())
    assert data["n_train"] == 40 and sum(data["train_per_class"].values()) == 40
    shown = _run(["dvc", "metrics", "show"], repo, env)
    assert all(f"metrics/variants/{v}.json" in shown for v in VARIANTS)
    for stage in ("train", "fit"):
        timing = json.loads((repo / f"metrics/seconds/{stage}/ad.json").read_text())
        assert timing[f"{stage}_seconds"] > 0 and timing["device"].startswith("cpu")


def test_second_repro_is_a_noop(project):
    repo, env, _ = project
    out = _run(["dvc", "repro"], repo, env)
    assert _ran_stages(out) == [] and "up to date" in out


@pytest.mark.parametrize("stage", ["prepare", "train@ad", "fit@normal"])
def test_rerunning_an_upstream_stage_does_not_cascade(project, stage):
    """Cached outputs are pure functions of their deps (wall times live in metrics/seconds/, which nothing depends
    on), so a forced rerun writes the same bytes and DVC sees nothing new downstream."""
    repo, env, _ = project
    forced = _run(["dvc", "repro", "--force", "--single-item", stage], repo, env)
    assert _ran_stages(forced) == [stage]
    status = _run(["dvc", "status"], repo, env)
    assert "up to date" in status, status
    after = _run(["dvc", "repro"], repo, env)
    assert _ran_stages(after) == [], after


def test_changing_one_variant_reruns_only_its_stages_and_the_report(project):
    repo, env, _ = project
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["variants"]["normal"]["beta"] = 0.5
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = _run(["dvc", "repro"], repo, env)
    assert _ran_stages(out) == sorted(["train@normal", "fit@normal", "evaluate@normal", "tsne@normal",
                                       "render@normal", "report"])
