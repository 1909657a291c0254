"""A first look in about three minutes: the whole pipeline on a small config, in a scratch copy of the project.

    make demo                                        # = .venv/bin/python scripts/demo.py
    .venv/bin/python scripts/demo.py --dir /tmp/d --set train.epochs=40 --set data.n_train=1000

It copies the tracked files of the working tree (uncommitted edits included, committed results left out) to a scratch
folder outside the project, writes the small params below over the project's params.yaml there, and runs `dvc repro`
in it, every stage, all variants. The project's own results, `git status` and `dvc status` stay as they are. At the
end it prints where the report and the figures are. The figures mean little at this size: it shows what a run makes.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from vadlib.infra.config import parse_params
from vadlib.infra.errors import ConfigError
from vadlib.infra.overrides import add_set_option, with_overrides

ROOT = Path(__file__).resolve().parents[1]
# Small enough for ~3 minutes on 2 CPU cores, large enough that every stage has something to show.
DEMO_SETTINGS = (
    "data.n_train=500", "data.n_test=300", "train.epochs=15", "train.checkpoint_every=0", "fit.epochs=15",
    "evaluator.epochs=1", "evaluator.n_val=1000", "quality.n_samples=500", "tsne.n_points=300", "tsne.max_iter=250",
    "evaluate.likelihood_images=50", "evaluate.likelihood_samples=1000",
)
# Outputs of a real run: the copy makes its own.
RESULTS = ("dvc.lock", "metrics/", "plots/", "reports/")
KEEP = ("reports/study/runs.csv", "reports/study/answer.json")  # the report's inputs
MARKER = ".vadlib-demo"  # written into the scratch folder, so a rerun may replace it and nothing else


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [p for p in out.split("\0") if p and (p in KEEP or not p.startswith(RESULTS)) and (ROOT / p).is_file()]


def prepare_folder(folder: Path) -> None:
    """Empty `folder` for the demo, refusing to delete anything a demo did not make."""
    if folder.resolve() == ROOT or ROOT in folder.resolve().parents:
        raise ConfigError(f"--dir {folder}: must lie outside the project ({ROOT}), so its results stay untouched")
    if folder.exists():
        if not (folder / MARKER).exists():
            raise ConfigError(f"--dir {folder}: exists and was not made by this demo; name a new or empty folder")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("made by scripts/demo.py; safe to delete\n")


def demo_params(settings: list[str]) -> dict:
    """The project's params with `settings` applied; refuses bad ones before anything is written."""
    raw = with_overrides(yaml.safe_load((ROOT / "params.yaml").read_text()), settings)
    # The copy lives elsewhere: a relative data root (from params, or VADLIB_DATA_ROOT, which wins as in every
    # stage) is made absolute from the project's folder.
    raw["data"]["root"] = str((ROOT / parse_params(raw).data.resolved_root).resolve())
    return raw


def write_copy(folder: Path, params: dict) -> None:
    for rel in tracked_files():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, folder / rel)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def run(cmd: list[str], cwd: Path, env: dict) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"error: `{' '.join(cmd)}` failed in {cwd} (exit {proc.returncode}); see its output above")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "vadlib-demo",
                    help="scratch folder outside the project (default: %(default)s); replaced on every run")
    add_set_option(ap)  # on top of the demo's small config
    args = ap.parse_args(argv)
    folder = args.dir.expanduser().absolute()
    try:
        params = demo_params([*DEMO_SETTINGS, *args.settings])
        prepare_folder(folder)
        write_copy(folder, params)
    except ConfigError as err:
        raise SystemExit(f"error: {err}") from None
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VADLIB_DATA_ROOT", None)  # the copy's params name the data folder
    git = ["git", "-c", "user.email=demo@localhost", "-c", "user.name=demo"]
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], [*git, "commit", "-qm", "demo"]):
        run(cmd, folder, env)
    start = time.perf_counter()
    run(["dvc", "repro"], folder, env)
    print(f"\ndemo finished in {time.perf_counter() - start:.0f} s, in {folder}:\n"
          f"  report:   {folder / 'reports/report.md'}\n"
          f"  figures:  {folder / 'plots/images'} (samples, reconstructions, t-SNE per variant; comparison.png)\n"
          f"  metrics:  cd {folder} && dvc metrics show\n"
          f"  plots:    cd {folder} && dvc plots show   (then open dvc_plots/index.html)")


if __name__ == "__main__":
    main()
