"""Create (or refresh) one named DVC experiment per variant, each selecting that variant via params' `compare`.

    make views        # = .venv/bin/python scripts/views.py

Afterwards `dvc metrics diff ad normal`, `dvc exp diff ad normal`, `dvc exp show --only-changed` and
`dvc plots diff ad normal uniform laplace --targets plots/selected/train.csv` compare distributions. Each view reruns
only the `compare` stage (seconds) in a temporary copy (`--temp`), so the workspace stays as it is. Experiments hang off
the commit they were made from: after a new results commit, run this again (it removes the old views first).
"""
from __future__ import annotations

import argparse

from vadlib.infra.config import load_params
from vadlib.infra.experiments import dvc, export_absolute_data_root


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args(argv)
    cfg = load_params()
    export_absolute_data_root()
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
