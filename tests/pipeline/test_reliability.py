"""Interrupted runs, determinism of whole stages, atomic and unwritable outputs."""
import json
import os
import signal
import time

import pytest
import torch

from helpers import make_project, run_stage, stage
from vadlib.infra.errors import DivergenceError, VadlibError, raise_if_diverged
from vadlib.infra.io import atomic_path, load_tensors, save_tensors, write_json


def _ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.slow  # trains in subprocesses
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


@pytest.mark.slow  # trains in a subprocess
def test_resume_checkpoint_from_other_params_is_ignored(tmp_path):
    project = make_project(tmp_path / "p", epochs=4)
    save_tensors(project / "checkpoints/ad.pt", {"fingerprint": "something-else", "epoch": 3})
    out = run_stage(project, "train", "ad")
    assert "resuming" not in out and (project / "models/ad.pt").exists()


@pytest.mark.slow  # the evaluator, train, fit and evaluate stages in subprocesses, twice
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


def test_divergence_message_names_the_step_and_the_last_good_value():
    raise_if_diverged(torch.tensor([1.0, 2.0]), "train/ad", 3, [], "fix it")  # all finite: nothing happens
    with pytest.raises(DivergenceError, match=r"train/ad: loss became nan at epoch 3, step 3 \(last finite loss 1 at "
                                              r"step 2\); nothing was written\. fix it"):
        raise_if_diverged(torch.tensor([64.0, 64.0, float("nan")]), "train/ad", 3, [5.0], "fix it", per_step=64)
    with pytest.raises(DivergenceError, match=r"step 1 \(last finite epoch loss 5\)"):
        raise_if_diverged(torch.tensor([float("inf")]), "evaluator", 2, [7.0, 5.0], "fix it")
    with pytest.raises(DivergenceError, match=r"step 1 \(no finite loss yet\)"):
        raise_if_diverged(torch.tensor([float("nan"), 1.0]), "evaluator", 1, [], "fix it")
