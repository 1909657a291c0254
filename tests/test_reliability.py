"""Interrupted runs, determinism of whole stages, atomic and unwritable outputs."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from helpers import VARIANTS, tiny_data
from vadlib.infra.errors import VadlibError
from vadlib.infra.io import atomic_path, load_tensors, save_tensors, write_json

ROOT = Path(__file__).resolve().parents[1]


def make_project(folder: Path, epochs: int = 6, checkpoint_every: int = 1) -> Path:
    """A working folder with params and prepared tiny data, as the stage scripts expect."""
    folder.mkdir(parents=True, exist_ok=True)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params.update(device="cpu", variants=VARIANTS)
    params["model"]["latent_dim"] = 8
    params["train"].update(epochs=epochs, batch_size=8, checkpoint_every=checkpoint_every)
    params["fit"].update(epochs=3, batch_size=8)
    params["evaluator"].update(epochs=1, n_val=100)
    params["quality"].update(n_samples=20)
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    for split, seed in (("train", 0), ("test", 2)):  # different images: the memorisation check needs real test images
        save_tensors(folder / f"data/prepared/{split}.pt", tiny_data(40, seed=seed))
    for name in ("pool", "test_full"):  # the evaluator's images (prepare writes these from the real splits)
        save_tensors(folder / f"data/reference/{name}.pt", tiny_data(200, seed=1))
    return folder


def stage(folder, name, *args, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(ROOT / f"stages/{name}.py"), *args], cwd=folder, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def run_stage(folder, name, *args):
    proc = stage(folder, name, *args)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return out + err


def _ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("sig, launcher", [(signal.SIGTERM, "foreground"), (signal.SIGINT, "foreground"),
                                           (signal.SIGINT, "nohup")])
def test_killed_training_leaves_no_output_and_resumes_bit_identically(tmp_path, sig, launcher):
    """`nohup cmd &` (or any non-interactive launcher) starts the stage with SIGINT ignored; it must still stop."""
    reference = make_project(tmp_path / "reference", epochs=30)
    run_stage(reference, "train", "normal")
    killed = make_project(tmp_path / "killed", epochs=30)
    proc = stage(killed, "train", "normal", preexec_fn=_ignore_sigint if launcher == "nohup" else None)
    resume = killed / "checkpoints/normal.pt"
    deadline = time.time() + 120
    while not resume.exists() and time.time() < deadline:  # wait for the first periodic checkpoint
        time.sleep(0.05)
    assert resume.exists(), "no periodic checkpoint appeared"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "stopped during epoch" in err and "dvc repro" in err and "Traceback" not in err
    assert not (killed / "models/normal.pt").exists() and not (killed / "plots/train/normal.csv").exists()
    assert not list(killed.rglob("*.tmp"))
    out = run_stage(killed, "train", "normal")
    assert "resuming from epoch" in out
    a, b = load_tensors(reference / "models/normal.pt"), load_tensors(killed / "models/normal.pt")
    assert torch.equal(a["latents"], b["latents"])
    assert all(torch.equal(a["decoder"][k], b["decoder"][k]) for k in a["decoder"])
    assert not resume.exists(), "the resume checkpoint is dropped once the model is written"


def test_resume_checkpoint_from_other_params_is_ignored(tmp_path):
    project = make_project(tmp_path / "p", epochs=4)
    save_tensors(project / "checkpoints/ad.pt", {"fingerprint": "something-else", "epoch": 3})
    out = run_stage(project, "train", "ad")
    assert "resuming" not in out and (project / "models/ad.pt").exists()


def test_same_seed_gives_identical_metrics_files(tmp_path):
    results = []
    for name in ("one", "two"):
        project = make_project(tmp_path / name, epochs=3)
        run_stage(project, "evaluator")
        for step in ("train", "fit", "evaluate"):
            run_stage(project, step, "laplace")
        m = json.loads((project / "metrics/variants/laplace.json").read_text())
        results.append(m)
    assert results[0] == results[1]
    assert not any(k.endswith("seconds") for k in results[0])  # wall time lives in metrics/seconds/ only


def test_equal_content_gives_identical_files(tmp_path):
    """DVC hashes bytes: a rerun that computes the same tensors must not look like a change."""
    obj = {"x": torch.arange(6).view(2, 3), "history": {"loss": [1.5, 0.5]}, "name": "ad"}
    save_tensors(tmp_path / "a.pt", obj)
    save_tensors(tmp_path / "b.pt", obj)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "m.json"
    write_json(target, {"ok": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text('{"half": ')
            raise RuntimeError("crash mid-write")
    assert json.loads(target.read_text()) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_folder_names_the_path(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(VadlibError, match=r"cannot write .*ro/x\.json"):
            write_json(folder / "x.json", {})
    finally:
        folder.chmod(0o700)


def test_full_disk_names_the_path(tmp_path, monkeypatch):
    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(VadlibError, match=r"cannot write .*out\.json: No space left on device"):
        write_json(tmp_path / "out.json", {"a": 1})
    assert list(tmp_path.iterdir()) == []


def test_unwritable_destination_names_the_path(tmp_path):
    (tmp_path / "plots").write_text("a file where a folder should be")
    with pytest.raises(VadlibError, match=r"cannot write .*plots/x\.csv"):
        write_json(tmp_path / "plots/x.csv", {})
