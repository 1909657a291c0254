"""Why the original Uniform failed: its recipe, then one change at a time towards today's default, Normal as control.

The original recipe as the course project ran it: Adam at lr 0.01 for the decoder and the codes, constant rates, no
weight decay, the Uniform's bounds (a, b) learned raw (`uniform_ab`), the class start for training and a random start
at the same rate for fitting. Each later step restores one group of today's defaults and keeps the earlier ones, so
the last step is today's default recipe. A step that changes nothing for a family (the Uniform parametrisation, for
Normal) is not rerun for it. Rows are keyed by (step, family, lengths) and written as each finishes, so a rerun skips
what the table already holds.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path

from ..infra.config import parse_params
from ..infra.errors import DivergenceError
from ..infra.tables import read_table, write_table
from .proxy import apply_override, train_fit_score

TABLE = Path("reports/study/uniform_ablation.csv")
ABLATED_FAMILIES = ("uniform", "normal")
COURSE_RECIPE = {"variants.uniform.distribution": "uniform_ab", "train.lr_decoder": 0.01, "train.lr_latent": 0.01,
            "train.weight_decay": 0.0, "train.schedule": "constant", "fit.init": "random", "fit.lr": 0.01,
            "fit.schedule": "constant"}
# (what the step changes, the COURSE_RECIPE keys it returns to today's default); cumulative, in this order
STEPS = (("the original recipe", ()),
         ("bounds as centre + log half-width (today's Uniform)", ("variants.uniform.distribution",)),
         ("today's learning rates (decoder 0.001, codes 0.5)", ("train.lr_decoder", "train.lr_latent")),
         ("decoder weight decay 2.0", ("train.weight_decay",)),
         ("cosine schedules (train and fit)", ("train.schedule", "fit.schedule")),
         ("fit from the nearest train code at lr 0.2 (today's default)", ("fit.init", "fit.lr")))
COLUMNS = ("step", "change", "family", "train_epochs", "fit_epochs", "train_course_loss", "test_course_loss",
           "seconds", "note", "machine", "commit")


@dataclass(frozen=True)
class Setting:
    step: int
    family: str
    overrides: dict  # dotted params key -> value, on top of params.yaml


def overrides(step: int, family: str, train_epochs: int | None = None, fit_epochs: int | None = None) -> dict:
    """The params changes of `step` for `family` (keys of other variants dropped), plus the chosen lengths."""
    restored = {key for _, keys in STEPS[: step + 1] for key in keys}
    out = {k: v for k, v in COURSE_RECIPE.items() if k not in restored
           and (not k.startswith("variants.") or k.startswith(f"variants.{family}."))}
    if train_epochs is not None:
        out["train.epochs"] = train_epochs
    if fit_epochs is not None:
        out["fit.epochs"] = fit_epochs
    return out


def settings(families=ABLATED_FAMILIES, train_epochs: int | None = None, fit_epochs: int | None = None) -> list[Setting]:
    """Every (step, family) whose params differ from the family's previous step."""
    out = []
    for family in families:
        previous = None
        for step in range(len(STEPS)):
            changes = overrides(step, family, train_epochs, fit_epochs)
            if changes != previous:
                out.append(Setting(step, family, changes))
            previous = changes
    return out


def config_for(raw_params: dict, setting: Setting):
    raw = copy.deepcopy(raw_params)
    for key, value in setting.overrides.items():
        apply_override(raw, f"{key}={value}")
    return parse_params(raw)


def row_key(row: dict) -> tuple[int, str, int, int]:
    return int(row["step"]), str(row["family"]), int(row["train_epochs"]), int(row["fit_epochs"])


def read_rows(path: str | os.PathLike = TABLE) -> list[dict]:
    return read_table(path, COLUMNS, "the ablation table")


def append_row(row: dict, path: str | os.PathLike = TABLE) -> None:
    """Rewrite the table with `row` added."""
    rows = [*read_rows(path), {k: "" if row.get(k) is None else row[k] for k in COLUMNS}]
    write_table(path, COLUMNS, ([r[k] for k in COLUMNS] for r in rows))


def run_setting(raw_params: dict, setting: Setting, train_data: dict, test_images, device) -> dict:
    """One row: train + fit + score; a divergence is a result (the recipe failed), recorded with its message."""
    cfg = config_for(raw_params, setting)
    base = {"step": setting.step, "change": STEPS[setting.step][0], "family": setting.family,
            "train_epochs": cfg.train.epochs, "fit_epochs": cfg.fit.epochs}
    try:
        scores = train_fit_score(cfg, setting.family, train_data, test_images, device)
    except DivergenceError as err:
        return {**base, "note": f"diverged: {str(err).splitlines()[0]}"}
    return {**base, "train_course_loss": round(scores["train_course_loss"], 5),
            "test_course_loss": round(scores["test_course_loss"], 5), "seconds": round(scores["seconds"], 1),
            "note": ""}


def _fmt(value: str) -> str:
    return f"{float(value):.4f}" if value not in ("", None) else "—"


def markdown(rows: list[dict], original: dict | None = None) -> list[str]:
    """The ablation table: one line per step and length, Uniform and Normal side by side (train / test course_loss).
    A step that changes nothing for a family reads "as above"; one not yet run reads "—", and a step not run for
    either family is listed below the table instead."""
    by_key = {row_key(r): r for r in rows}
    lengths = sorted({(int(r["train_epochs"]), int(r["fit_epochs"])) for r in rows})
    lines = ["| step | change (cumulative) | train / fit epochs | Uniform train | Uniform test | Normal train | "
             "Normal test |", "|---|---|---|---|---|---|---|"]
    if original:
        lines.append("| — | the original report | ~750 / ~500 | " + " | ".join(
            f"{original[f][0]} | {original[f][1]}" for f in ("uniform", "normal")) + " |")
    pending = []
    for te, fe in lengths:
        runs = {(s.step, s.family) for s in settings(("uniform", "normal"), te, fe)}
        for step, (change, _) in enumerate(STEPS):
            cells = []
            for family in ("uniform", "normal"):
                row = by_key.get((step, family, te, fe))
                if (step, family) not in runs:
                    cells += ["as above", "as above"]
                elif row is None:
                    cells += ["—", "—"]
                elif row.get("note"):
                    cells += [row["note"], ""]
                else:
                    cells += [_fmt(row["train_course_loss"]), _fmt(row["test_course_loss"])]
            if all(c in ("—", "as above") for c in cells):
                pending.append(f"{step} at {te} / {fe}")
                continue
            lines.append(f"| {step} | {change} | {te} / {fe} | " + " | ".join(cells) + " |")
    if pending:
        lines += ["", "Not run yet: step " + ", ".join(pending) + "."]
    return lines
