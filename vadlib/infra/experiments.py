"""Running DVC from the project's scripts (views, sweeps, the study, the full-scale run): one way to call it, to point
experiments at the data, to wait for its queue and to read finished experiments back from git. No stage imports this; experiments themselves run the stages."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from .config import load_params


def dvc(*args: str, capture: bool = True, check: bool = True) -> subprocess.CompletedProcess:
    """`dvc <args>` with the DVC installed beside this Python; a failure becomes one `error:` exit naming the call."""
    bin_dir = Path(sys.executable).parent
    exe = bin_dir / "dvc"
    # The queue's workers spawn a bare `dvc`: put this environment's first on PATH, or they die unseen.
    path = os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")])
    proc = subprocess.run([str(exe) if exe.exists() else "dvc", *args], capture_output=capture, text=True,
                          env={**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": path})
    if check and proc.returncode != 0:
        raise SystemExit(f"error: dvc {' '.join(args)} failed:\n{(proc.stdout or '')[-1500:]}{(proc.stderr or '')[-1500:]}")
    return proc


def export_absolute_data_root(params: str | os.PathLike = "params.yaml") -> Path:
    """Queued and --temp experiments run in a copy of the repo, where a relative data root would point nowhere: set
    VADLIB_DATA_ROOT (which every stage prefers) to the absolute folder, for this process and its children."""
    root = load_params(params).data.resolved_root.resolve()
    os.environ["VADLIB_DATA_ROOT"] = str(root)
    return root


def git(*args: str) -> str:
    """`git <args>`'s output; a failure becomes one `error:` exit naming the call."""
    proc = subprocess.run(["git", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"error: git {' '.join(args)} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def experiment_refs(prefix: str = "") -> dict[str, tuple[str, str]]:
    """{name: (baseline commit, experiment commit)} of the local DVC experiments whose name starts with `prefix`
    (DVC keeps them as refs/exps/<baseline[:2]>/<baseline[2:]>/<name>)."""
    out = {}
    for line in git("for-each-ref", "--format=%(refname) %(objectname)", "refs/exps").splitlines():
        ref, _, sha = line.partition(" ")
        parts = ref.split("/")
        if len(parts) == 5 and len(parts[2]) == 2 and parts[4].startswith(prefix):
            out[parts[4]] = (parts[2] + parts[3], sha)
    return out


def show(rev: str, path: str) -> str | None:
    """The text of `path` in commit `rev`, or None where the commit has no such file."""
    proc = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else None


def wait_for_queue(poll_seconds: float = 20) -> str:
    """Block until `dvc queue status` lists nothing Queued or Running; returns that last status."""
    while True:
        status = dvc("queue", "status").stdout
        if not any(word in status for word in ("Queued", "Running")):
            return status
        time.sleep(poll_seconds)
