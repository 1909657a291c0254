"""The one grammar every script uses to change params: `--set dotted.key=value` (repeatable), params.yaml's names,
the value read as YAML. Same spelling as `dvc exp run -S`, so a setting moves between the two unchanged."""
from __future__ import annotations

import argparse
import contextlib
import copy
import math
from typing import Iterable

import yaml

from .errors import ConfigError


def add_set_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                        help="override one params.yaml value, e.g. --set train.epochs=40 (repeatable)")


def parse_value(text: str):
    """YAML, except that `2e-4` counts as a number, as on a command line one expects (YAML 1.1 reads a string)."""
    parsed = yaml.safe_load(text)
    if isinstance(parsed, str):
        with contextlib.suppress(ValueError):
            number = float(parsed)
            parsed = number if math.isfinite(number) else parsed
    return parsed


def apply_override(raw: dict, assignment: str) -> None:
    """Set one `dotted.key=value` in the raw params mapping, in place; an unknown key or a missing `=` is one
    ConfigError naming the assignment (new leaf keys are left to the schema check, which names them)."""
    key, eq, value = assignment.partition("=")
    if not eq or not key:
        raise ConfigError(f"--set {assignment}: expected KEY=VALUE, e.g. train.epochs=40")
    *parents, leaf = key.split(".")
    node = raw
    for depth, name in enumerate(parents):
        if not isinstance(node, dict) or name not in node:
            raise ConfigError(f"--set {assignment}: no such params key {'.'.join(parents[:depth + 1])!r}")
        node = node[name]
    if not isinstance(node, dict):
        raise ConfigError(f"--set {assignment}: {'.'.join(parents)!r} is a value, not a group of keys")
    node[leaf] = parse_value(value)


def with_overrides(raw: dict, assignments: Iterable[str]) -> dict:
    """A copy of the raw params mapping with every assignment applied, in order."""
    out = copy.deepcopy(raw)
    for assignment in assignments:
        apply_override(out, assignment)
    return out
