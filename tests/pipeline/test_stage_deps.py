"""dvc.yaml must list every vadlib module a stage runs, or DVC would serve stale results after a code change;
and the parts of dvc.yaml that DVC cannot derive from params (the overlay plots) must name every variant."""
import ast
import re
from pathlib import Path

import pytest
import yaml

from imports import closure
from vadlib.infra.config import load_params

ROOT = Path(__file__).resolve().parents[2]
# Modules that cannot change a stage's outputs: argument parsing and exit codes, exception classes, output file
# names and the wall-time file with its CPU name (paths are declared in dvc.yaml itself, so a rename there already reruns the stage).
RESULT_NEUTRAL = {"vadlib/infra/cli.py", "vadlib/infra/errors.py", "vadlib/pipeline/artifacts.py",
                  "vadlib/infra/machine.py"}
PACKAGE_INITS = {str(p.relative_to(ROOT)) for p in (ROOT / "vadlib").rglob("__init__.py")}


STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_declares_every_module_it_runs(name):
    body = STAGES[name].get("do", STAGES[name])
    script = body["cmd"].split()[1]
    deps = {d if isinstance(d, str) else next(iter(d)) for d in body["deps"]}
    assert script in deps
    missing = closure(script) - RESULT_NEUTRAL - deps
    assert not missing, f"dvc.yaml stage {name!r} runs {sorted(missing)} but does not list them as deps"
    stale = {d for d in deps if d.startswith("vadlib/")} - closure(script)
    assert not stale, f"dvc.yaml stage {name!r} lists {sorted(stale)}, which it never imports (needless reruns)"


def test_the_import_scan_sees_imports_inside_functions_and_relative_ones():
    fit = closure("stages/fit.py")
    assert "vadlib/pipeline/fit.py" in fit  # imported inside main()
    assert "vadlib/core/optimize.py" in fit  # reached through `from ..core.optimize import` in pipeline/fit.py
    assert "vadlib/pipeline/artifacts.py" in fit  # `from . import artifacts`: the member is a module
    assert "vadlib/pipeline/checkpoint.py" in fit  # `from .checkpoint import load_trained`, inside stage()
    assert not any(m.startswith("vadlib/studies/") for m in fit)


def test_package_inits_import_nothing():
    """Package __init__ files run on every import but are not deps: they must not hold code that shapes results."""
    for init in PACKAGE_INITS:
        tree = ast.parse((ROOT / init).read_text())
        assert all(isinstance(n, ast.Expr) for n in tree.body), f"{init} should hold only its docstring"


def test_overlay_plots_name_every_variant():
    """Stages iterate over params' `variants`, so they always agree; the overlay plots are written out by hand."""
    variants = set(load_params(ROOT / "params.yaml").variants)
    text = yaml.safe_dump(yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"])
    for folder in ("plots/train", "plots/fit"):
        plotted = set(re.findall(rf"{folder}/([^/\s]+)\.csv", text))
        assert plotted == variants, f"dvc.yaml's plots over {folder}/ name {sorted(plotted)}, params has {sorted(variants)}"
    for split in ("train", "test"):
        assert set(re.findall(rf"plots/tsne/([^/\s]+)_{split}\.csv", text)) == variants
    imputed = set(re.findall(r"plots/impute/([^/\s]+)\.csv", text))
    assert imputed == variants | {"baselines"}, f"dvc.yaml's plots over plots/impute/ name {sorted(imputed)}"
