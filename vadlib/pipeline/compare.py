"""One variant's results mirrored to variant-independent paths, so DVC's revision diffs compare distributions.

`dvc metrics diff` and `dvc plots diff` compare revisions (commits, experiments), not files. With the chosen
variant's metrics at `metrics/selected.json` and its curves at `plots/selected/*.csv`, one named experiment per
distribution (`dvc exp run -n normal -S compare=normal`, which reruns only this cheap stage) turns
`dvc metrics diff ad normal` into "how does Normal differ from the AD?" (imputation included: `imputation.*`).
"""
from __future__ import annotations

import shutil

from . import artifacts as paths
from ..infra.errors import ConfigError
from ..infra.io import atomic_path, read_json, write_json


def select_variant(variant: str, variants) -> None:
    if variant not in variants:
        raise ConfigError(f"compare: got {variant!r}, expected one of the variants in params ({', '.join(variants)})")
    imputed = read_json(paths.impute_metrics(variant))
    write_json(paths.SELECTED_METRICS, {"compare": variant, **read_json(paths.metrics(variant)),
                                        "imputation": {k: v for k, v in imputed.items() if k != "variant"}})
    for source, target in ((paths.train_curve(variant), paths.SELECTED_TRAIN),
                           (paths.fit_curve(variant), paths.SELECTED_FIT),
                           (paths.impute_curve(variant), paths.SELECTED_IMPUTE)):
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)


def stage(cfg) -> str:
    """The `compare` stage."""
    select_variant(cfg.compare, cfg.variants)
    return f"compare: metrics/selected.json and plots/selected/ now show {cfg.compare}"
