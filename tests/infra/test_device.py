"""Which device a stage computes on: one line naming it, a warning when `auto` leaves a visible NVIDIA GPU unused."""
import os
import re

import pytest
import torch
import yaml

from helpers import make_project, stage
from vadlib.infra import runtime
from vadlib.infra.runtime import announce_device
from vadlib.infra.errors import ConfigError

TOO_OLD = ("The NVIDIA driver on your system is too old (found version 11040). Please update your GPU driver by "
           "downloading and installing a new version from the URL: http://www.nvidia.com/Download/index.aspx")


@pytest.fixture
def old_driver(monkeypatch):
    """A CUDA build of PyTorch on a machine whose NVIDIA driver it cannot use."""
    def init():
        raise RuntimeError(TOO_OLD)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "init", init)
    monkeypatch.setattr(torch.version, "cuda", "12.4")


def _announced(name, capsys):
    device = runtime.resolve_device(name)
    announce_device(name, device)
    return device, capsys.readouterr().err


def test_auto_on_the_cpu_beside_a_visible_gpu_warns_with_pytorchs_reason(old_driver, monkeypatch, capsys):
    monkeypatch.setattr(runtime, "nvidia_visible", lambda: True)
    device, err = _announced("auto", capsys)
    assert device.type == "cpu"
    lines = err.splitlines()
    assert lines[0] == f"device: cpu ({torch.get_num_threads()} threads) [auto: no usable CUDA GPU]"
    assert len(lines) == 2 and lines[1].startswith("warning: device: auto fell back to the CPU although an NVIDIA GPU "
                                                   "is visible")
    assert f"PyTorch {torch.__version__} built for CUDA 12.4: The NVIDIA driver on your system is too old " \
           "(found version 11040)" in lines[1]


def test_a_cpu_only_pytorch_beside_a_visible_gpu_is_named_as_the_reason(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(runtime, "nvidia_visible", lambda: True)
    _, err = _announced("auto", capsys)
    assert f"warning: device: auto fell back to the CPU although an NVIDIA GPU is visible; PyTorch " \
           f"{torch.__version__} is built without CUDA support" in err


@pytest.mark.parametrize("name, visible", [("auto", False), ("cpu", True)])
def test_no_warning_without_a_visible_gpu_or_when_the_cpu_is_asked_for(old_driver, monkeypatch, capsys, name,
                                                                        visible):
    monkeypatch.setattr(runtime, "nvidia_visible", lambda: visible)
    _, err = _announced(name, capsys)
    assert err.splitlines() == [f"device: cpu ({torch.get_num_threads()} threads)"
                                + (" [auto: no usable CUDA GPU]" if name == "auto" else "")]


def test_nvidia_is_visible_through_nvidia_smi_or_the_driver_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(runtime.shutil, "which", lambda cmd: None)
    monkeypatch.setattr(runtime, "Path", lambda p: tmp_path / p.lstrip("/"))
    assert not runtime.nvidia_visible()
    (tmp_path / "proc/driver/nvidia").mkdir(parents=True)
    assert runtime.nvidia_visible()
    (tmp_path / "proc/driver/nvidia").rmdir()
    monkeypatch.setattr(runtime.shutil, "which", lambda cmd: "/usr/bin/nvidia-smi" if cmd == "nvidia-smi" else None)
    assert runtime.nvidia_visible()


def test_cuda_without_a_usable_gpu_is_one_clear_error_with_the_reason(old_driver):
    with pytest.raises(ConfigError, match=r"device: got 'cuda' but CUDA is not available here \(PyTorch .* built for "
                                          r"CUDA 12\.4: The NVIDIA driver on your system is too old .*\); use 'auto' "
                                          r"or 'cpu'"):
        runtime.resolve_device("cuda")


def _train_auto(tmp_path) -> list[str]:
    """The stderr lines of a one-epoch `train` stage run with `device: auto`."""
    project = make_project(tmp_path / "p", epochs=1, checkpoint_every=0)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["device"] = "auto"
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    proc = stage(project, "train", "normal")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return err.splitlines()


def test_a_stage_names_its_device_before_it_starts(tmp_path):
    lines = _train_auto(tmp_path)
    assert re.fullmatch(r"device: cpu \(\d+ threads\) \[auto: no usable CUDA GPU\]|"
                        r"device: cuda \(.+\) \[auto: CUDA GPU\]", lines[0]), lines
    assert not any(line.startswith("warning: ") for line in lines), lines


@pytest.mark.skipif(torch.cuda.is_available(), reason="auto uses the GPU here")
def test_a_stage_warns_when_auto_leaves_a_visible_gpu_unused(tmp_path, monkeypatch):
    """A stand-in nvidia-smi on PATH makes this machine look like one with an NVIDIA GPU that PyTorch cannot use."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "nvidia-smi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    lines = _train_auto(tmp_path)
    assert lines[0].endswith("[auto: no usable CUDA GPU]"), lines
    assert lines[1].startswith("warning: device: auto fell back to the CPU although an NVIDIA GPU is visible; "
                               "PyTorch "), lines
    assert sum(line.startswith("warning: ") for line in lines) == 1, lines


def test_every_test_process_computes_on_one_cpu_thread():
    """conftest's pytest_configure runs in each pytest-xdist worker too: 2 workers on 2 cores, one torch thread each,
    and the subprocesses the tests start find bytecode outside the working tree."""
    assert torch.get_num_threads() == 1, os.environ.get("PYTEST_XDIST_WORKER", "no xdist worker")
    assert os.environ.get("PYTHONPYCACHEPREFIX")
