"""scripts/views.py (`make views`) without DVC: which `dvc` commands it issues, first run and rerun. The real
experiments are made (twice) in test_pipeline_e2e.py."""
import importlib.util
import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def views(tmp_path, monkeypatch):
    """The script's module, run in a folder holding the shipped params.yaml, with `dvc` recorded instead of run:
    `dvc exp list` answers with the names in `existing`."""
    spec = importlib.util.spec_from_file_location("views", ROOT / "scripts" / "views.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VADLIB_DATA_ROOT", "")  # empty: params' root counts; the script's export is undone afterwards
    calls, existing = [], []

    def dvc(*args, check=True):
        calls.append(list(args))
        out = "\n".join(existing) + "\n" if args[:2] == ("exp", "list") else ""
        return subprocess.CompletedProcess(["dvc", *args], 0, out, "")

    monkeypatch.setattr(module, "dvc", dvc)
    return module, calls, existing


VARIANTS = list(yaml.safe_load((ROOT / "params.yaml").read_text())["variants"])
RUNS = [["exp", "run", "--temp", "-n", v, "-S", f"compare={v}"] for v in VARIANTS]


def test_first_run_makes_one_view_per_variant_and_removes_nothing(views, tmp_path):
    module, calls, _ = views
    module.main([])
    assert calls == [["exp", "list", "--rev", "HEAD", "--name-only"], *RUNS]
    expected_root = (tmp_path / yaml.safe_load((ROOT / "params.yaml").read_text())["data"]["root"]).resolve()
    assert os.environ["VADLIB_DATA_ROOT"] == str(expected_root)  # --temp copies need an absolute data root


def test_rerun_removes_the_stale_views_first_and_only_those(views):
    module, calls, existing = views
    existing += [VARIANTS[0], "someone-elses-experiment", VARIANTS[-1]]
    module.main([])
    assert calls == [["exp", "list", "--rev", "HEAD", "--name-only"],
                     ["exp", "remove", VARIANTS[0], VARIANTS[-1]], *RUNS]
