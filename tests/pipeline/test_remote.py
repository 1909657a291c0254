"""`make repro` with a DVC remote, end to end on a tiny copy of the project and a real local-folder remote: a clone
with no remote runs the whole pipeline; its results pushed (`make push`), a fresh clone's `make repro` pulls them and
runs no stage; a remote lacking objects stops nothing. The data sit only in a stand-in for the system folder of
Debian's package, and the clones that pull have no data at all."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from idx_fixtures import write_fashion_idx

ROOT = Path(__file__).resolve().parents[2]
REPRO = [sys.executable, str(ROOT / "scripts/repro.py")]
VARIANTS = ("ad", "normal")  # two of the four: every stage runs, in half the processes
_DVC_STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
ALL_STAGES = {f"{name}@{v}" if "foreach" in body else name for name, body in _DVC_STAGES.items() for v in VARIANTS}
# small enough for a whole `dvc repro` in a minute or two on 2 cores (the settings of test_end_to_end.py)
TINY = {"data": {"root": "../no-such-data", "verify_md5": False, "download": False, "n_train": 40, "n_test": 20,
                 "n_val": 5},
        "model": {"latent_dim": 8}, "train": {"epochs": 2, "batch_size": 16}, "fit": {"epochs": 2, "batch_size": 16},
        "tsne": {"n_points": 20, "max_iter": 250}, "render": {"n_samples": 10, "interp_pairs": 2},
        "evaluator": {"epochs": 1, "n_val": 100}, "quality": {"n_samples": 20},
        "evaluate": {"likelihood_images": 10, "likelihood_samples": 100}, "impute": {"n_images": 8, "samples": 4}}
GIT = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]


def _run(cmd, cwd, env) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def _ran_stages(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def _env(system_data: Path) -> dict:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "VADLIB_SYSTEM_DATA_ROOT": str(system_data),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VADLIB_DATA_ROOT", None)
    return env


def _tiny_copy(repo: Path) -> None:
    """The project without results (the report's committed inputs kept), with the tiny params."""
    shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(
        ".venv", ".git", "data", "models", "checkpoints", "dvc_plots", "__pycache__", ".pytest_cache", "*.egg-info",
        "dvc.lock", "reports", "metrics", "plots", "tmp", "cache", "config.local", ".gpudata", ".whl"))
    deps = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["report"]["deps"]
    for committed in (d for d in deps if isinstance(d, str) and d.startswith("reports/")):
        (repo / committed).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / committed, repo / committed)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params.update(device="cpu", compare="normal", variants={v: params["variants"][v] for v in VARIANTS})
    for section, values in TINY.items():
        params[section].update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    """A clone with no remote runs everything; then its results are committed and pushed to a local-folder remote."""
    base = tmp_path_factory.mktemp("remote")
    system = base / "system-datasets"  # the only copy of the data
    write_fashion_idx(system, n_train=300, n_test=30)
    repo, remote = base / "origin", base / "storage"
    _tiny_copy(repo)
    env = _env(system)
    _run(["git", "init", "-q"], repo, env)
    _run(["dvc", "remote", "remove", "storage"], repo, env)
    _run(["git", "add", "-A"], repo, env)
    _run([*GIT, "commit", "-qm", "code"], repo, env)
    first = _run(REPRO, repo, env)
    _run(["dvc", "remote", "add", "-d", "storage", str(remote)], repo, env)
    _run(["git", "add", "-A"], repo, env)
    _run([*GIT, "commit", "-qm", "results"], repo, env)
    _run(["dvc", "push", "--run-cache"], repo, env)  # = make push
    return base, repo, remote, first


def _clone(base: Path, repo: Path, name: str) -> Path:
    _run(["git", "clone", "-q", str(repo), str(base / name)], base, os.environ)
    return base / name


def test_a_clone_with_no_remote_runs_the_whole_pipeline(origin):
    _, _, _, first = origin
    assert "no DVC remote" in first and _ran_stages(first) == ALL_STAGES
    assert "(the system folder)" in first  # prepare found the data there, with data.root pointing nowhere


def test_a_fresh_clone_pulls_the_pushed_results_and_runs_no_stage(origin):
    base, repo, _, _ = origin
    clone = _clone(base, repo, "fresh")
    env = _env(base / "no-data-here")  # no copy of the data anywhere: nothing may need it
    out = _run(REPRO, clone, env)
    assert out.count("remote 'storage'") == 1 and "pull incomplete" not in out, out
    assert _ran_stages(out) == set(), out
    assert "Data and pipelines are up to date" in _run(["dvc", "status"], clone, env)
    assert _ran_stages(_run(["dvc", "repro"], clone, env)) == set()
    assert (clone / "models/normal.pt").read_bytes() == (repo / "models/normal.pt").read_bytes()


def test_a_remote_lacking_objects_stops_nothing_the_missing_stage_runs(origin):
    """The remote lost `prepare`'s validation folder: the pull says so once, `prepare` reruns from the system folder
    and writes the same bytes, so nothing downstream runs and the clone ends up to date."""
    base, repo, remote, _ = origin
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    listing = next(o["md5"] for o in lock["stages"]["prepare"]["outs"] if o["path"] == "data/validation")
    (remote / "files/md5" / listing[:2] / listing[2:]).unlink()
    clone = _clone(base, repo, "partial")
    env = _env(base / "system-datasets")
    out = _run(REPRO, clone, env)
    assert out.count("pull incomplete, it lacks 1 of this revision's objects") == 1, out
    assert _ran_stages(out) == {"prepare"}, out
    assert "Data and pipelines are up to date" in _run(["dvc", "status"], clone, env)
