"""The shared start of the GPU tools (gpu_run.py, gpu_check.py): the checkout on the import path and in the children's
environment, the output folder, the data folder made absolute, scratch projects with `--set` settings, the machine's
description, and running a command into a log with its failure as one exception."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as `python benchmarks/<tool>.py` without an install: vadlib from the checkout
    sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from vadlib.infra.overrides import with_overrides  # noqa: E402


class Failed(Exception):
    """A command of a step failed: the step stops there."""


def prepare_environment(name: str) -> tuple[Path, Path]:
    """The environment the stages want (this checkout first on PYTHONPATH, unbuffered, no progress bars, no DVC
    analytics); returns (OUT, made and absolute, default <repo>/<name>_out; VADLIB_DATA_ROOT, required, absolute)."""
    os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
                      PYTHONUNBUFFERED="1", TQDM_DISABLE="1", DVC_NO_ANALYTICS="1")
    out = Path(os.environ.get("OUT") or REPO / f"{name}_out")
    out.mkdir(parents=True, exist_ok=True)
    root = os.environ.get("VADLIB_DATA_ROOT")
    if not root:
        raise SystemExit("error: set VADLIB_DATA_ROOT to the folder with the four Fashion-MNIST IDX files")
    os.environ["VADLIB_DATA_ROOT"] = str(Path(root).resolve())
    return out.resolve(), Path(os.environ["VADLIB_DATA_ROOT"])


def has_gpu_tools() -> bool:
    return shutil.which("nvidia-smi") is not None and subprocess.run(
        ["nvidia-smi"], capture_output=True).returncode == 0


def environment(name: str, dry: bool) -> list[str]:
    """The time, the GPU (nvidia-smi), Python and torch."""
    import torch

    lines = [f"# {name} {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} dry_run={int(dry)}"]
    gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                         capture_output=True, text=True) if shutil.which("nvidia-smi") else None
    if gpu is not None and gpu.returncode == 0:
        lines += [f"gpu: {line}" for line in gpu.stdout.strip().splitlines()]
    else:
        lines.append("gpu: none (nvidia-smi absent)")
    lines.append(f"python {sys.version.split()[0]} torch {torch.__version__} cuda {torch.version.cuda} "
                 f"available {torch.cuda.is_available()}")
    return lines


def write_params(dst: Path, settings: list[str]) -> None:
    """The checkout's params.yaml with `settings` (dotted key=value, as `--set` and `dvc exp run -S` take them)."""
    raw = with_overrides(yaml.safe_load((REPO / "params.yaml").read_text()), settings)
    dst.write_text(yaml.safe_dump(raw, sort_keys=False))


def run_logged(cmd: list, log, cwd: Path | None = None, env: dict | None = None, stdout=subprocess.DEVNULL) -> str:
    """Run `cmd` with its stderr into the open file `log` (its stdout where `stdout` says; subprocess.PIPE: returned);
    a non-zero exit raises Failed naming the command."""
    log.flush()
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, stdout=stdout, stderr=log, text=True)
    if proc.returncode != 0:
        raise Failed(f"`{' '.join(map(str, cmd))}` exited with {proc.returncode}")
    return proc.stdout or ""


def last_lines(text: str, n: int = 1) -> list[str]:
    return text.rstrip("\n").splitlines()[-n:] if text.strip() else []
