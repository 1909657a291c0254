"""The package's layers, checked from the source: vadlib/infra < core < measure < pipeline < studies < stages/,
scripts/, benchmarks/. A module may import its own layer and the layers below, never one above (imports inside
functions and relative ones count too); a stage script imports only vadlib.infra.cli, vadlib.infra.config and its
own vadlib.pipeline.<stage>. And reading params (what every stage does before it loads torch) imports no torch."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from imports import ROOT, package_of, scan_source

LAYERS = ("infra", "core", "measure", "pipeline", "studies")
TOP = ("stages", "scripts", "benchmarks")  # one layer above vadlib's: entry points
TOP_RANK = len(LAYERS)
STAGE_IMPORTS = ("vadlib.infra.cli", "vadlib.infra.config")  # and vadlib.pipeline.<the stage's own name>


def file_layer(rel: str) -> tuple[str, int | None]:
    """(layer name, rank) of a file given by its path relative to the root; rank None: a vadlib file in no layer."""
    parts = Path(rel).parts
    if parts[0] in TOP:
        return parts[0], TOP_RANK
    if parts[0] == "vadlib":
        if len(parts) == 2:
            return ("vadlib", -1) if parts[1] == "__init__.py" else ("vadlib", None)  # the root holds a docstring
        if parts[1] in LAYERS:
            return f"vadlib.{parts[1]}", LAYERS.index(parts[1])
        return f"vadlib.{parts[1]}", None
    raise ValueError(f"{rel}: not in vadlib/, stages/, scripts/ or benchmarks/")


def module_layer(dotted: str) -> tuple[str, int | None] | None:
    """(layer name, rank) of an imported module; None for a module outside the project (stdlib, third party)."""
    parts = dotted.split(".")
    if parts[0] in TOP:
        return parts[0], TOP_RANK
    if parts[0] != "vadlib":
        return None
    if len(parts) == 1:
        return "vadlib", -1
    return (f"vadlib.{parts[1]}", LAYERS.index(parts[1])) if parts[1] in LAYERS else (f"vadlib.{parts[1]}", None)


def violations(rel: str, source: str) -> list[str]:
    """Every import in `source` (the file at `rel`) that breaks the layer order, as 'file:line: import ...: why'."""
    name, rank = file_layer(rel)
    if rank is None:
        return [f"{rel}:1: the module lies in no layer ({', '.join(f'vadlib/{x}' for x in LAYERS)})"]
    found = []
    package = package_of(ROOT / rel)
    for imp in scan_source(source, package):
        for target in imp.targets():
            layer = module_layer(target)
            if layer is None:
                continue
            where = f"{rel}:{imp.line}: `{imp.statement}`"
            if layer[1] is None:
                found.append(f"{where}: imports {target}, which lies in no layer")
            elif rel.startswith("stages/") and target.startswith("vadlib"):
                own = f"vadlib.pipeline.{Path(rel).stem}"
                if target not in (*STAGE_IMPORTS, own):
                    found.append(f"{where}: a stage imports {target}; stages import only "
                                 f"{', '.join(STAGE_IMPORTS)} and {own}")
            elif layer[1] > rank:
                found.append(f"{where}: {name} imports {target} from {layer[0]}, a higher layer")
    return found


def project_files() -> list[str]:
    files = sorted(str(p.relative_to(ROOT)) for folder in ("vadlib", *TOP) for p in (ROOT / folder).rglob("*.py")
                   if "__pycache__" not in p.parts)
    return files


def test_no_import_runs_up_the_layers():
    files = project_files()
    for folder in ("vadlib/infra/", "vadlib/core/", "vadlib/measure/", "vadlib/pipeline/", "vadlib/studies/",
                   "stages/", "scripts/", "benchmarks/"):
        assert any(f.startswith(folder) for f in files), f"no .py file found under {folder}: the scan looks elsewhere"
    assert "stages/train.py" in files and "vadlib/infra/config.py" in files
    found = [v for rel in files for v in violations(rel, (ROOT / rel).read_text())]
    assert not found, "imports against the layer order (infra < core < measure < pipeline < studies < " \
                      "stages/scripts/benchmarks):\n" + "\n".join(found)


def _planted(rel: str, text: str) -> str:
    """The real file `rel` with `text` appended: a violation inside a real module, not a toy one."""
    return (ROOT / rel).read_text() + "\n" + text


def test_the_checker_names_file_line_and_import_of_a_planted_violation():
    source = _planted("vadlib/infra/config.py", "def late():\n    from ..core import distributions\n")
    line = source.splitlines().index("    from ..core import distributions") + 1
    assert violations("vadlib/infra/config.py", source) == [
        f"vadlib/infra/config.py:{line}: `from ..core import distributions`: vadlib.infra imports "
        "vadlib.core.distributions from vadlib.core, a higher layer"]
    assert violations("vadlib/infra/config.py", (ROOT / "vadlib/infra/config.py").read_text()) == []


@pytest.mark.parametrize("rel, source, expected", [
    ("vadlib/core/models.py", "from vadlib.pipeline.artifacts import REPORT\n", "vadlib.pipeline.artifacts"),
    ("vadlib/measure/samples.py", "import vadlib.studies.answer as a\n", "vadlib.studies.answer"),
    ("vadlib/pipeline/train.py", "if True:\n    from ..studies import table\n", "vadlib.studies.table"),
    ("vadlib/studies/table.py", "import stages.train\n", "stages.train"),
    ("vadlib/infra/io.py", "from ..measure.comparisons import adjust\n", "vadlib.measure.comparisons"),
    ("vadlib/core/images.py", "from vadlib import measure\n", "vadlib.measure"),
    ("vadlib/core/images.py", "from ..workflows import fit\n", "vadlib.workflows"),  # no such layer
    ("stages/train.py", "from vadlib.pipeline.fit import stage\n", "vadlib.pipeline.fit"),  # another stage's module
    ("stages/train.py", "def main():\n    from vadlib.core import models\n", "vadlib.core.models"),
    ("stages/report.py", "from vadlib.pipeline import artifacts\n", "vadlib.pipeline.artifacts"),
])
def test_every_kind_of_upward_import_is_caught(rel, source, expected):
    found = violations(rel, source)
    assert len(found) == 1 and expected in found[0] and found[0].startswith(f"{rel}:{source.count(chr(10))}:"), found


@pytest.mark.parametrize("rel, source", [
    ("vadlib/pipeline/fit.py", "from ..measure import comparisons\nfrom . import artifacts\nimport vadlib.infra.io\n"),
    ("vadlib/studies/answer.py", "from .table import FAMILIES\nfrom ..pipeline.report import describes\n"),
    ("vadlib/infra/config.py", "from .errors import ConfigError\nimport yaml\nfrom dataclasses import dataclass\n"),
    ("stages/train.py", "from vadlib.infra.cli import run\nfrom vadlib.infra.config import load_params\n"
                        "def main():\n    from vadlib.pipeline.train import stage\n"),
    ("scripts/study.py", "from vadlib.studies import seed_study\nfrom vadlib.core.samplers import REGISTRY\n"),
    ("benchmarks/bench.py", "from vadlib.pipeline.train import build_loop\nimport torch\n"),
])
def test_imports_down_or_within_a_layer_pass(rel, source):
    assert violations(rel, source) == []


def test_a_module_outside_every_layer_is_refused():
    assert violations("vadlib/helpers.py", "") == [
        "vadlib/helpers.py:1: the module lies in no layer (vadlib/infra, vadlib/core, vadlib/measure, "
        "vadlib/pipeline, vadlib/studies)"]


def test_reading_params_imports_no_torch():
    """Every stage reads and checks params before it loads its pipeline module: that must not import torch (a bad
    params file then fails in well under a second)."""
    code = ("import json, sys\n"
            "import vadlib.infra.cli, vadlib.infra.config\n"
            "cfg = vadlib.infra.config.load_params('params.yaml')\n"
            "[cfg.variant(v) for v in cfg.variants]\n"
            "print(json.dumps(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == []


def test_the_torch_check_can_fail():
    """The same probe sees torch when something on the way imports it."""
    code = "import sys\nimport vadlib.core.distributions\nprint('torch' in sys.modules)\n"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "True", proc.stderr
