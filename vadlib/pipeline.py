"""Cross-checks between params.yaml and dvc.yaml that the schema alone cannot see."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from .config import Config
from .errors import ConfigError


def check_report_inputs(cfg: Config, dvc_yaml: str | Path = "dvc.yaml") -> None:
    """The variant stages iterate over params' `variants`, so they always agree; the report's list of metrics
    files and the overlay plots are written out in dvc.yaml, so a variant added to (or removed from) params
    must be added there too, or DVC would not rerun the report when that variant changes."""
    path = Path(dvc_yaml)
    try:
        text = path.read_text()
        deps = yaml.safe_load(text)["stages"]["report"]["deps"]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the report stage's deps ({exc})") from None
    listed = {m.group(1) for d in deps if isinstance(d, str) and (m := re.fullmatch(r"metrics/(.+)\.json", d))}
    problems = [f"variants.{v}: in params.yaml but dvc.yaml's report stage lacks the dep metrics/{v}.json"
                for v in cfg.variants if v not in listed]
    problems += [f"dvc.yaml: the report stage depends on metrics/{v}.json but params.yaml has no variants.{v}"
                 for v in sorted(listed - set(cfg.variants))]
    plotted = set(re.findall(r"plots/train/([^/\s]+)\.csv", text))
    problems += [f"variants.{v}: in params.yaml but dvc.yaml's overlay plots lack plots/train/{v}.csv"
                 for v in cfg.variants if v not in plotted]
    if problems:
        raise ConfigError("params.yaml and dvc.yaml disagree:\n" + "\n".join(f"  {p}" for p in problems))
