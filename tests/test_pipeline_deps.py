"""dvc.yaml must list every vadlib module a stage runs, or DVC would serve stale results after a code change."""
import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
# Modules that cannot change a stage's outputs: argument parsing and exit codes, exception classes, output file
# names (those are declared as outs in dvc.yaml itself, so a rename there already reruns the stage).
RESULT_NEUTRAL = {"vadlib/cli.py", "vadlib/errors.py", "vadlib/paths.py"}


def vadlib_imports(path: Path) -> set[str]:
    """Every vadlib module a file imports, at any nesting level (stages import inside main())."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:  # relative import inside vadlib
            names = [node.module] if node.module else [a.name for a in node.names]
        elif node.module == "vadlib":
            names = [a.name for a in node.names]
        elif node.module and node.module.startswith("vadlib."):
            names = [node.module.split(".")[1]]
        else:
            continue
        found |= {f"vadlib/{n.split('.')[0]}.py" for n in names}
    return found


def closure(script: str) -> set[str]:
    seen, todo = set(), [script]
    while todo:
        for module in vadlib_imports(ROOT / todo.pop()) - seen:
            assert (ROOT / module).exists(), f"{module} is imported but does not exist"
            seen.add(module)
            todo.append(module)
    return seen


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


def test_the_import_scan_sees_imports_inside_functions():
    assert "vadlib/fit.py" in closure("stages/fit.py")  # imported inside main()
    assert "vadlib/optimize.py" in closure("stages/fit.py")  # reached through vadlib/fit.py
