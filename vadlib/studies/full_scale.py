"""The whole pipeline at full scale (60,000 train / 10,000 test images, four variants): its settings, once, for every
caller (`scripts/full_scale.py`, which runs it as a DVC experiment, and `benchmarks/gpu_run.py` / `gpu_check.py`,
which run it without DVC), and the report of a finished run (reports/full_scale.md).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import yaml

from ..infra.config import load_params, parse_params
from ..infra.experiments import dvc, experiment_refs, export_absolute_data_root, git
from ..infra.io import write_text
from ..infra.markdown import fixed, table

# The large-N rule: batch 512 keeps a GPU busy; the decoder's Adam step grows with sqrt(batch / 64), from the default
# 0.001 at batch 64 to 0.001 * sqrt(512 / 64) = 0.002828; every latent row still gets one update per epoch whatever the
# batch (SparseAdam), so the rows' and the fit's learning rates stay. The fit's batch is 8 x the training batch (it
# only steps the codes). The evaluator learns from the whole train split (none is left unused) minus its 1000
# held-out images. The whole test split is the test set, so none is left for validation (nothing is tuned at this
# scale). Checkpoints at most once a minute: a run of hours can be resumed.
BATCH = 512
LR_DECODER = round(0.001 * math.sqrt(BATCH / 64), 6)  # 0.002828
SETTINGS = (
    "data.n_train=60000", "data.n_test=10000", "data.n_val=0", "data.evaluator_pool=all", "evaluator.n_val=1000",
    f"train.batch_size={BATCH}", f"train.lr_decoder={LR_DECODER}", "train.epochs=150", "train.checkpoint_every=1",
    "train.checkpoint_min_seconds=60",
    f"fit.batch_size={8 * BATCH}",
)
OUT = Path("reports/full_scale.md")
RUN_COMMAND = "python scripts/full_scale.py"


def run(name: str, allow_cpu: bool, settings: list[str]) -> None:
    """`dvc exp run --temp -n <name>` with SETTINGS, then `settings` on top; refuses a CPU unless `allow_cpu`."""
    from ..infra.runtime import describe, resolve_device

    device = resolve_device(load_params().device)
    if device.type == "cpu" and not allow_cpu:
        raise SystemExit("error: no usable CUDA GPU here: the full-scale run would take about half a day on a CPU "
                         "(docs/performance.md). Pass --allow-cpu to run it anyway, or run it where a GPU is.")
    export_absolute_data_root()
    sets = [*SETTINGS, *settings]
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
        self.origin = (f"the DVC experiment `{name}` (commit {self.rev[:10]}), run by `{RUN_COMMAND} "
                       "run`: `dvc exp run --temp` with that script's full-scale settings (the run's whole params are "
                       f"at the end). Its figures: `dvc exp apply {name}`, then `plots/images/`")
        self.command = f"{RUN_COMMAND} report --name {name}"

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
                       f"(`benchmarks/gpu_run.sh`, step 2) with `{RUN_COMMAND} settings` (the run's whole "
                       "params are at the end)")
        self.command = f"{RUN_COMMAND} report --from {root}"

    def read(self, path: str) -> str:
        return (self.root / path).read_text()

    def files(self, folder: str) -> list[str]:
        return sorted(p.relative_to(self.root).as_posix() for p in (self.root / folder).rglob("*.json"))


def seconds_table(source) -> list[str]:
    rows = []
    for path in source.files("metrics/seconds"):
        data = json.loads(source.read(path))
        seconds = next(v for k, v in data.items() if k.endswith("_seconds"))
        rows.append((f"{Path(path).parent.name}@{Path(path).stem}", fixed(seconds, 1), data.get("device", "–")))
    return table(("stage", "seconds", "device"), rows)


def without_figures(lines: list[str]) -> list[str]:
    """The report's text and number tables without its figures, which stay in the experiment (`dvc exp apply`):
    a line or a whole table that links an image goes."""
    kept, rows = [], []
    for line in [*lines, ""]:
        if line.startswith("|"):
            rows.append(line)
            continue
        if not any("](../" in row for row in rows):
            kept.extend(rows)
        rows = []
        if "](../" not in line:
            kept.append(line)
    return kept[:-1]  # the sentinel


def report(source, out: Path = OUT) -> None:
    body = without_figures(source.read("reports/report.md").splitlines()[1:])
    params = source.read("params.yaml")
    data = parse_params(yaml.safe_load(params)).data
    write_text(out, "\n".join([
        f"# Full scale: {data.n_train:,} train / {data.n_test:,} test images, one seed", "",
        f"Written by `{source.command}` from {source.origin}.",
        "", "## Seconds per stage (the run's `metrics/seconds/`)", "", *seconds_table(source), "",
        "## The report stage's tables", "", *body, "",
        "## Params of the run", "", "```yaml", params.rstrip(), "```", "",
    ]) + "\n")
    print(f"wrote {out}")
