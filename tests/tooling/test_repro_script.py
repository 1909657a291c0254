"""scripts/repro.py (`make repro`) without DVC: which `dvc` commands it issues and the one line it prints for each
kind of remote. The real thing, end to end with a local-folder remote: tests/pipeline/test_remote.py."""
import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

MISSING = """WARNING: Some of the cache files do not exist neither locally nor on remote. Missing cache files:
md5: 764efa883dda1e11db47671c4a3bbd9e
md5: 0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f.dir
ERROR: failed to pull data from the cloud - Checkout failed for following targets:
data/validation
"""


def _load():
    spec = importlib.util.spec_from_file_location("repro", ROOT / "scripts" / "repro.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def repro(monkeypatch):
    """The script with `dvc` replaced: answers from `replies` (args prefix -> (rc, stdout, stderr)), calls recorded."""
    module = _load()
    module.calls, module.replies = [], {}

    def dvc(*args, capture=True, check=True):
        module.calls.append(args)
        for prefix, (rc, out, err) in module.replies.items():
            if args[:len(prefix)] == prefix:
                return subprocess.CompletedProcess(args, rc, out, err)
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(module, "dvc", dvc)
    return module


def test_no_remote_says_so_and_runs_dvc_repro(repro, capsys):
    repro.replies[("remote", "default")] = (251, "", "No default remote set")
    assert repro.main([]) == 0
    assert repro.calls == [("remote", "default"), ("repro",)]
    assert capsys.readouterr().out.startswith("no DVC remote (`dvc remote add -d`")


def test_an_absent_local_folder_is_not_asked_for(repro, tmp_path, capsys):
    repro.replies[("remote", "default")] = (0, "storage\n", "")
    repro.replies[("config",)] = (0, f"{tmp_path / 'none'}\n", "")
    repro.main([])
    assert ("pull", "--run-cache") not in repro.calls and repro.calls[-1] == ("repro",)
    assert capsys.readouterr().out == f"remote 'storage': {tmp_path / 'none'} does not exist (`make push` fills it); " \
                                      "the stages not up to date run here\n"


def test_a_pull_then_dvc_repro_with_the_arguments_after_the_dashes(repro, tmp_path, capsys):
    repro.replies[("remote", "default")] = (0, "storage\n", "")
    repro.replies[("config",)] = (0, f"{tmp_path}\n", "")
    repro.replies[("pull",)] = (0, "A       models/\n12 files fetched and 12 files added\n", "")
    repro.replies[("repro",)] = (3, "", "")
    assert repro.main(["--", "train@ad", "--force"]) == 3  # dvc repro's exit status
    assert repro.calls[-2:] == [("pull", "--run-cache"), ("repro", "train@ad", "--force")]
    assert capsys.readouterr().out == "remote 'storage': 12 files fetched and 12 files added\n"


@pytest.mark.parametrize("url, output, reason", [
    ("s3://bucket/vadlib", MISSING, "it lacks 2 of this revision's objects"),
    ("s3://bucket/vadlib", "ERROR: unexpected error - s3 is supported, but requires 'dvc-s3' to be installed\n",
     "unexpected error - s3 is supported, but requires 'dvc-s3' to be installed"),
])
def test_an_incomplete_pull_is_one_line_and_the_stages_still_run(repro, capsys, url, output, reason):
    repro.replies[("remote", "default")] = (0, "storage\n", "")
    repro.replies[("config",)] = (0, f"{url}\n", "")
    repro.replies[("pull",)] = (1, "", output)
    assert repro.main([]) == 0 and repro.calls[-1] == ("repro",)
    assert capsys.readouterr().out == (f"remote 'storage' ({url}): pull incomplete, {reason}; the stages whose "
                                       "outputs are missing run here\n")


def test_no_pull_goes_straight_to_dvc_repro(repro, capsys):
    repro.main(["--no-pull"])
    assert repro.calls == [("repro",)] and capsys.readouterr().out == ""


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_make_repro_is_this_script_and_push_pull_carry_the_run_cache():
    dry = {t: subprocess.run(["make", "-n", t], cwd=ROOT, capture_output=True, text=True).stdout
           for t in ("repro", "push", "pull")}
    assert "scripts/repro.py" in dry["repro"]
    assert "dvc push --run-cache" in dry["push"] and "dvc pull --run-cache" in dry["pull"]
