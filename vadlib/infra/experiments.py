"""Running DVC from the project's scripts (views, sweeps, the full-scale run): one way to call it and one way to point
experiments at the data. No stage imports this; experiments themselves run the stages."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from vadlib.infra.config import load_params


def dvc(*args: str, capture: bool = True, check: bool = True) -> subprocess.CompletedProcess:
    """`dvc <args>` with the DVC installed beside this Python; a failure becomes one `error:` exit naming the call."""
    exe = Path(sys.executable).parent / "dvc"
    proc = subprocess.run([str(exe) if exe.exists() else "dvc", *args], capture_output=capture, text=True,
                          env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    if check and proc.returncode != 0:
        raise SystemExit(f"error: dvc {' '.join(args)} failed:\n{(proc.stdout or '')[-1500:]}{(proc.stderr or '')[-1500:]}")
    return proc


def export_absolute_data_root(params: str | os.PathLike = "params.yaml") -> Path:
    """Queued and --temp experiments run in a copy of the repo, where a relative data root would point nowhere: set
    VADLIB_DATA_ROOT (which every stage prefers) to the absolute folder, for this process and its children."""
    root = load_params(params).data.resolved_root.resolve()
    os.environ["VADLIB_DATA_ROOT"] = str(root)
    return root
