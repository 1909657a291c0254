"""The whole pipeline at full scale (60,000 train / 10,000 test images, four variants) as one named DVC experiment.

    make full-scale                                    # = .venv/bin/python scripts/full_scale.py run, then report
    .venv/bin/python scripts/full_scale.py run [--name full-scale] [--allow-cpu] [--set key=value ...]
    .venv/bin/python scripts/full_scale.py report [--name full-scale]   # -> reports/full_scale.md
    .venv/bin/python scripts/full_scale.py report --from DIR            # ... from a run without DVC (gpu_run.sh)
    .venv/bin/python scripts/full_scale.py settings                     # the settings, one `--set` value a line

`run` is `dvc exp run --temp -n <name>` with the large-N settings of vadlib/studies/full_scale.py (the one place
they live; benchmarks/gpu_run.sh and gpu_check.sh read them there too): the workspace, its results and dvc.lock stay
as they are, and the experiment (a local git ref) keeps the results. It refuses to start on a CPU unless
`--allow-cpu` is given: there it takes about half a day (docs/performance.md). `report` writes reports/full_scale.md
from the experiment: the report stage's own tables, and the seconds each stage took.
"""
from __future__ import annotations

import argparse
import sys

from vadlib.infra.overrides import add_set_option
from vadlib.studies import full_scale


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="action", required=True)
    run_p = sub.add_parser("run", help="run the full-scale experiment")
    run_p.add_argument("--name", default="full-scale")
    run_p.add_argument("--allow-cpu", action="store_true", help="run even without a GPU (about half a day)")
    add_set_option(run_p)
    sub.add_parser("settings", help="print the full-scale settings, one `key=value` a line")
    rep_p = sub.add_parser("report", help="write reports/full_scale.md from the experiment")
    rep_p.add_argument("--name", default="full-scale")
    rep_p.add_argument("--from", dest="folder", metavar="DIR",
                       help="a project folder that ran without DVC (gpu_run.sh's step2.tar.gz, unpacked) instead")
    args = ap.parse_args(argv)
    if args.action == "run":
        full_scale.run(args.name, args.allow_cpu, args.settings)
    elif args.action == "settings":
        print("\n".join(full_scale.SETTINGS))
    else:
        full_scale.report(full_scale.Folder(args.folder) if args.folder else full_scale.Experiment(args.name))


if __name__ == "__main__":
    sys.exit(main())
