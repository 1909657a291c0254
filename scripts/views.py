"""Create (or refresh) one named DVC experiment per variant, each selecting that variant via params' `compare`.

    make views        # = .venv/bin/python scripts/views.py

Afterwards `dvc metrics diff ad normal`, `dvc exp diff ad normal`, `dvc exp show --only-changed` and
`dvc plots diff ad normal uniform laplace --targets plots/selected/train.csv` compare distributions. Each view reruns
only the `compare` stage (seconds) in a temporary copy (`--temp`), so the workspace stays as it is. Experiments hang off
the commit they were made from: after a new results commit, run this again (it removes the old views first).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from vadlib.infra.config import load_params


def dvc(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "dvc"
    proc = subprocess.run([str(exe) if exe.exists() else "dvc", *args], capture_output=True, text=True,
                          env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    if check and proc.returncode != 0:
        raise SystemExit(f"error: dvc {' '.join(args)} failed:\n{proc.stdout[-1500:]}{proc.stderr[-1500:]}")
    return proc


def main() -> None:
    cfg = load_params()
    # A --temp run works in a copy of the repo, where a relative data root would point nowhere.
    os.environ["VADLIB_DATA_ROOT"] = str(cfg.data.resolved_root.resolve())
    existing = dvc("exp", "list", "--rev", "HEAD", "--name-only", check=False).stdout.split()
    stale = [v for v in cfg.variants if v in existing]
    if stale:
        dvc("exp", "remove", *stale)
    for variant in cfg.variants:
        dvc("exp", "run", "--temp", "-n", variant, "-S", f"compare={variant}")
        print(f"view {variant}: dvc exp run --temp -n {variant} -S compare={variant}")
    print("compare with e.g. `dvc metrics diff " + " ".join(list(cfg.variants)[:2]) + "`")


if __name__ == "__main__":
    main()
