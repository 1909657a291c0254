"""The whole pipeline at full scale (60,000 train / 10,000 test images, four variants) as one named DVC experiment.

    make full-scale                                    # = .venv/bin/python scripts/full_scale.py run, then report
    .venv/bin/python scripts/full_scale.py run [--name full-scale] [--allow-cpu] [--set key=value ...]
    .venv/bin/python scripts/full_scale.py report [--name full-scale]   # -> reports/full_scale.md
    .venv/bin/python scripts/full_scale.py report --from DIR            # ... from a run without DVC (gpu_run.sh)
    .venv/bin/python scripts/full_scale.py settings                     # the settings, one a line

`run` is `dvc exp run --temp -n <name>` with the large-N settings below: the workspace, its results and dvc.lock stay
as they are, and the experiment (a local git ref) keeps the results. It refuses to start on a CPU unless
`--allow-cpu` is given: there it takes about half a day (docs/performance.md). `report` writes reports/full_scale.md
from the experiment: the report stage's own tables, and the seconds each stage took.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from vadlib.infra.config import load_params, parse_params
from vadlib.infra.experiments import dvc, experiment_refs, export_absolute_data_root, git
from vadlib.infra.io import write_text

# The large-N rule: batch 512 keeps a GPU busy; the decoder's Adam step grows with sqrt(512 / 64); every latent row
# still gets one update per epoch whatever the batch (SparseAdam), so the rows' and the fit's learning rates stay.
# The evaluator learns from the whole train split (none is left unused) minus its 1000 held-out images.
FULL_SCALE = (
    "data.n_train=60000", "data.n_test=10000", "data.evaluator_pool=all", "evaluator.n_val=1000",
    "train.batch_size=512", "train.lr_decoder=0.0028", "train.epochs=150", "train.checkpoint_every=1",
    "train.checkpoint_min_seconds=60",
    "fit.batch_size=4096",
)
OUT = Path("reports/full_scale.md")


def run(name: str, allow_cpu: bool, settings: list[str]) -> None:
    from vadlib.infra.runtime import describe, resolve_device

    device = resolve_device(load_params().device)
    if device.type == "cpu" and not allow_cpu:
        raise SystemExit("error: no usable CUDA GPU here: the full-scale run would take about half a day on a CPU "
                         "(docs/performance.md). Pass --allow-cpu to run it anyway, or run it where a GPU is.")
    export_absolute_data_root()
    sets = [*FULL_SCALE, *settings]
    print(f"full scale on {describe(device)}: dvc exp run --temp -n {name} " + " ".join(f"-S {s}" for s in sets),
          flush=True)
    dvc("exp", "run", "--temp", "-n", name, *(a for s in sets for a in ("-S", s)), capture=False)


def experiment_rev(name: str) -> str:
    """The commit of the local experiment named `name`."""
    refs = experiment_refs()
    if name not in refs:
        raise SystemExit(f"error: no experiment named {name!r} here (`dvc exp list`); run `full_scale.py run` first")
    return refs[name][1]


class Experiment:
    """The files of the local DVC experiment `name`."""

    def __init__(self, name: str):
        self.name, self.rev = name, experiment_rev(name)
        self.origin = (f"the DVC experiment `{name}` (commit {self.rev[:10]}), run by `python scripts/full_scale.py "
                       "run`: `dvc exp run --temp` with that script's full-scale settings (the run's whole params are "
                       f"at the end). Its figures: `dvc exp apply {name}`, then `plots/images/`")
        self.command = f"python scripts/full_scale.py report --name {name}"

    def read(self, path: str) -> str:
        return git("show", f"{self.rev}:{path}")

    def files(self, folder: str) -> list[str]:
        return sorted(git("ls-tree", "-r", "--name-only", self.rev, folder).split())


class Folder:
    """The files of a project folder that ran the pipeline without DVC (benchmarks/gpu_run.sh's step2.tar.gz,
    unpacked)."""

    def __init__(self, root: str):
        self.root = Path(root)
        if not (self.root / "reports/report.md").is_file() or not (self.root / "params.yaml").is_file():
            raise SystemExit(f"error: --from {root}: expected a project folder with params.yaml and reports/report.md "
                             "(benchmarks/gpu_run.sh's step2.tar.gz, unpacked)")
        self.origin = (f"the folder `{root}`: the pipeline's stages run one process each without DVC "
                       "(`benchmarks/gpu_run.sh`, step 2) with `scripts/full_scale.py settings` (the run's whole "
                       "params are at the end)")
        self.command = f"python scripts/full_scale.py report --from {root}"

    def read(self, path: str) -> str:
        return (self.root / path).read_text()

    def files(self, folder: str) -> list[str]:
        return sorted(p.relative_to(self.root).as_posix() for p in (self.root / folder).rglob("*.json"))


def seconds_table(source) -> list[str]:
    rows = []
    for path in source.files("metrics/seconds"):
        data = json.loads(source.read(path))
        seconds = next(v for k, v in data.items() if k.endswith("_seconds"))
        stage = f"{Path(path).parent.name}@{Path(path).stem}"
        rows.append(f"| {stage} | {seconds:.1f} | {data.get('device', '–')} |")
    return ["| stage | seconds | device |", "|---|---|---|", *rows]


def without_figures(lines: list[str]) -> list[str]:
    """The report's text and number tables without its figures, which stay in the experiment (`dvc exp apply`):
    a line or a whole table that links an image goes."""
    kept, table = [], []
    for line in [*lines, ""]:
        if line.startswith("|"):
            table.append(line)
            continue
        if not any("](../" in row for row in table):
            kept.extend(table)
        table = []
        if "](../" not in line:
            kept.append(line)
    return kept[:-1]  # the sentinel


def report(source) -> None:
    body = without_figures(source.read("reports/report.md").splitlines()[1:])
    params = source.read("params.yaml")
    data = parse_params(yaml.safe_load(params)).data
    write_text(OUT, "\n".join([
        f"# Full scale: {data.n_train:,} train / {data.n_test:,} test images, one seed", "",
        f"Written by `{source.command}` from {source.origin}.",
        "", "## Seconds per stage (the run's `metrics/seconds/`)", "", *seconds_table(source), "",
        "## The report stage's tables", "", *body, "",
        "## Params of the run", "", "```yaml", params.rstrip(), "```", "",
    ]) + "\n")
    print(f"wrote {OUT}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="action", required=True)
    run_p = sub.add_parser("run", help="run the full-scale experiment")
    run_p.add_argument("--name", default="full-scale")
    run_p.add_argument("--allow-cpu", action="store_true", help="run even without a GPU (about half a day)")
    run_p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="a params override on top of the full-scale settings (repeatable)")
    sub.add_parser("settings", help="print the full-scale settings, one `key=value` a line (benchmarks/gpu_run.sh)")
    rep_p = sub.add_parser("report", help="write reports/full_scale.md from the experiment")
    rep_p.add_argument("--name", default="full-scale")
    rep_p.add_argument("--from", dest="folder", metavar="DIR",
                       help="a project folder that ran without DVC (gpu_run.sh's step2.tar.gz, unpacked) instead")
    args = ap.parse_args(argv)
    if args.action == "run":
        run(args.name, args.allow_cpu, args.set)
    elif args.action == "settings":
        print("\n".join(FULL_SCALE))
    else:
        report(Folder(args.folder) if args.folder else Experiment(args.name))


if __name__ == "__main__":
    sys.exit(main())
