"""The one import scanner the tests share: every import statement of a file, at any nesting level (stages import
inside main()), relative ones resolved against the file's package. tests/pipeline/test_stage_deps.py follows a stage's
vadlib imports to the modules it runs; tests/tooling/test_layers.py checks that no import runs up the layers."""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Import:
    line: int
    statement: str  # the import as written (its source text)
    module: str  # the dotted module it names, relative imports resolved ('' for `from . import x` at the top)
    names: tuple[str, ...]  # `from module import names`; empty for `import module`

    def targets(self, root: Path = ROOT) -> list[str]:
        """The dotted modules this import loads: `from pkg import mod` names a module when pkg/mod exists; any other
        member is an attribute of `module` itself."""
        if not self.names:
            return [self.module]
        found = [f"{self.module}.{n}" for n in self.names if n != "*" and _is_module(f"{self.module}.{n}", root)]
        return found if len(found) == len(self.names) else [self.module, *found]


def _is_module(dotted: str, root: Path) -> bool:
    path = root / Path(*dotted.split("."))
    return path.with_suffix(".py").exists() or path.is_dir()  # a package, with or without __init__.py


def package_of(path: Path, root: Path = ROOT) -> str:
    """'vadlib/core/models.py' -> 'vadlib.core'; 'vadlib/core/__init__.py' -> 'vadlib.core' too."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1])


def scan_source(source: str, package: str) -> list[Import]:
    """Every import in `source`, a module of `package` (dotted; '' for a top-level script)."""
    out = []
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [(a.name, ()) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parent = package.split(".") if package else []
                parent = parent[: len(parent) - node.level + 1]
                module = ".".join(parent + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            modules = [(module, tuple(a.name for a in node.names))]
        else:
            continue
        text = " ".join(line.strip() for line in lines[node.lineno - 1: node.end_lineno])
        out += [Import(node.lineno, text, module, names) for module, names in modules]
    return sorted(out, key=lambda i: i.line)


def scan(path: Path, root: Path = ROOT) -> list[Import]:
    return scan_source(path.read_text(), package_of(path, root))


def module_file(dotted: str, root: Path = ROOT) -> str | None:
    """'vadlib.core.models' -> 'vadlib/core/models.py'; a package -> None (its __init__ is checked apart)."""
    path = root / Path(*dotted.split("."))
    if path.with_suffix(".py").exists():
        return str(path.with_suffix(".py").relative_to(root))
    assert path.is_dir(), f"{dotted} is imported but does not exist"
    return None


def vadlib_imports(path: Path, root: Path = ROOT) -> set[str]:
    """Every vadlib module file a file imports, at any nesting level."""
    found = set()
    for imp in scan(path, root):
        for target in imp.targets(root):
            if target == "vadlib" or target.startswith("vadlib."):
                module = module_file(target, root)
                if module:
                    found.add(module)
    return found


def closure(script: str, root: Path = ROOT) -> set[str]:
    """Every vadlib module file `script` (a path relative to root) runs, following imports transitively."""
    seen, todo = set(), [script]
    while todo:
        for module in vadlib_imports(root / todo.pop(), root) - seen:
            seen.add(module)
            todo.append(module)
    return seen
