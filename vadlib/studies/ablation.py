"""Why the original Uniform failed: its recipe, then one change at a time towards today's default, Normal as control.

The original recipe as the course project ran it: dense Adam at lr 0.01 for the decoder and the codes (every code's
moments decay at every step), constant rates, no weight decay, the Uniform's bounds (a, b) learned raw (`uniform_ab`),
the class start for training and a random start at the same rate for fitting. Rows also record the KL weight: the
original recipe is run at today's beta and, with `--beta`, at a larger one. Each later step restores one group of today's defaults and keeps the earlier ones, so
the last step is today's default recipe. A step that changes nothing for a family (the Uniform parametrisation, for
Normal) is not rerun for it. Rows are keyed by (step, family, lengths) and written as each finishes, so a rerun skips
what the table already holds. About 2 minutes per run on 2 CPU cores at the default lengths (13 runs):

    python scripts/study.py ablation run [--steps 0 1] [--families uniform] [--set train.epochs=40] [--beta 1] [--dry-run]
    python scripts/study.py ablation report     # the table as markdown; `seeds report` puts it in reports/study.md
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path

from ..infra.config import parse_params
from ..infra.errors import DivergenceError, VadlibError
from ..infra.markdown import table
from ..infra.overrides import apply_override, with_overrides
from ..infra.tables import read_table, write_table
from .proxy import train_fit_score

TABLE = Path("reports/study/uniform_ablation.csv")
ABLATED_FAMILIES = ("uniform", "normal")
COURSE_RECIPE = {"variants.uniform.distribution": "uniform_ab", "train.lr_decoder": 0.01, "train.lr_latent": 0.01,
                 "train.latent_optimizer": "adam", "fit.optimizer": "adam", "train.weight_decay": 0.0,
                 "train.schedule": "constant", "fit.init": "random", "fit.lr": 0.01, "fit.schedule": "constant"}
# (what the step changes, the COURSE_RECIPE keys it returns to today's default); cumulative, in this order
STEPS = (("the original recipe", ()),
         ("codes on SparseAdam (only a batch's rows and moments change)", ("train.latent_optimizer", "fit.optimizer")),
         ("bounds as centre + log half-width (today's Uniform)", ("variants.uniform.distribution",)),
         ("today's learning rates (decoder 0.001, codes 0.5)", ("train.lr_decoder", "train.lr_latent")),
         ("decoder weight decay 2.0", ("train.weight_decay",)),
         ("cosine schedules (train and fit)", ("train.schedule", "fit.schedule")),
         ("fit from the nearest train code at lr 0.2 (today's default)", ("fit.init", "fit.lr")))
HEAD = ("step", "change (cumulative)", "train / fit epochs, beta", "Uniform train", "Uniform test", "Normal train",
        "Normal test")
COLUMNS = ("step", "change", "family", "train_epochs", "fit_epochs", "beta", "train_course_loss", "test_course_loss",
           "seconds", "note", "machine", "commit")


@dataclass(frozen=True)
class Setting:
    step: int
    family: str
    overrides: dict  # dotted params key -> value, on top of params.yaml


def overrides(step: int, family: str, train_epochs: int | None = None, fit_epochs: int | None = None,
              beta: float | None = None) -> dict:
    """The params changes of `step` for `family` (keys of other variants dropped), plus the chosen lengths and KL
    weight."""
    restored = {key for _, keys in STEPS[: step + 1] for key in keys}
    out = {k: v for k, v in COURSE_RECIPE.items() if k not in restored
           and (not k.startswith("variants.") or k.startswith(f"variants.{family}."))}
    if train_epochs is not None:
        out["train.epochs"] = train_epochs
    if fit_epochs is not None:
        out["fit.epochs"] = fit_epochs
    if beta is not None:
        out[f"variants.{family}.beta"] = beta
    return out


def settings(families=ABLATED_FAMILIES, train_epochs: int | None = None, fit_epochs: int | None = None,
             beta: float | None = None) -> list[Setting]:
    """Every (step, family) whose params differ from the family's previous step."""
    out = []
    for family in families:
        previous = None
        for step in range(len(STEPS)):
            changes = overrides(step, family, train_epochs, fit_epochs, beta)
            if changes != previous:
                out.append(Setting(step, family, changes))
            previous = changes
    return out


def config_for(raw_params: dict, setting: Setting):
    raw = copy.deepcopy(raw_params)
    for key, value in setting.overrides.items():
        apply_override(raw, f"{key}={value}")
    return parse_params(raw)


def row_key(row: dict) -> tuple[int, str, int, int, str]:
    return (int(row["step"]), str(row["family"]), int(row["train_epochs"]), int(row["fit_epochs"]),
            f"{float(row['beta']):g}")


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
            "train_epochs": cfg.train.epochs, "fit_epochs": cfg.fit.epochs,
            "beta": f"{cfg.variant(setting.family).beta:g}"}
    try:
        scores = train_fit_score(cfg, setting.family, train_data, test_images, device)
    except DivergenceError as err:
        return {**base, "note": f"diverged: {str(err).splitlines()[0]}"}
    return {**base, "train_course_loss": round(scores["train_course_loss"], 5),
            "test_course_loss": round(scores["test_course_loss"], 5), "seconds": round(scores["seconds"], 1),
            "note": ""}


def conclusion(rows: list[dict], original: dict[str, tuple[float, float]]) -> str | None:
    """What the table supports about the original Uniform failure, from the original recipe's rows (step 0, dense
    Adam) at each KL weight: whether Uniform's test loss comes near the original report's, and whether Normal, run
    the same way, fails alike. Single runs: a description, not a verdict."""
    firsts = {}
    for r in rows:
        if int(r["step"]) == 0 and r.get("test_course_loss") not in ("", None):
            firsts.setdefault((int(r["train_epochs"]), int(r["fit_epochs"]), f"{float(r['beta']):g}"), {})[
                r["family"]] = float(r["test_course_loss"])
    said = []
    for (te, fe, beta), cell in sorted(firsts.items(), key=lambda kv: (float(kv[0][2]), kv[0][0])):
        if {"uniform", "normal"} <= set(cell):
            u, n = cell["uniform"], cell["normal"]
            said.append(f"at {te} / {fe} epochs and beta {beta}, test course_loss Uniform {u:.4f}, Normal {n:.4f}")
    if not said:
        return None
    u0, n0 = original["uniform"][1], original["normal"][1]
    return ("The original recipe (step 0, dense Adam) gives " + "; ".join(said) + f" (the original report: Uniform "
            f"{u0:.4f}, Normal {n0:.4f}). Where both families score alike, the failure follows the recipe, not the "
            "family; single runs, so no verdict.")


def _fmt(value: str) -> str:
    return f"{float(value):.4f}" if value not in ("", None) else "—"


def markdown(rows: list[dict], original: dict | None = None) -> list[str]:
    """The ablation table: one line per step and length, Uniform and Normal side by side (train / test course_loss).
    A step that changes nothing for a family reads "as above"; one not yet run reads "—", and a step not run for
    either family is listed below the table instead."""
    by_key = {row_key(r): r for r in rows}
    groups = sorted({(int(r["train_epochs"]), int(r["fit_epochs"]), f"{float(r['beta']):g}") for r in rows},
                    key=lambda g: (float(g[2]), g[0], g[1]))
    lines = []
    if original:
        lines.append(["—", "the original report", "~750 / ~500, -",
                      *(c for f in ("uniform", "normal") for c in original[f])])
    pending = []
    for te, fe, beta in groups:
        runs = {(s.step, s.family) for s in settings(("uniform", "normal"), te, fe)}
        for step, (change, _) in enumerate(STEPS):
            cells = []
            for family in ("uniform", "normal"):
                row = by_key.get((step, family, te, fe, beta))
                if (step, family) not in runs:
                    cells += ["as above", "as above"]
                elif row is None:
                    cells += ["—", "—"]
                elif row.get("note"):
                    cells += [row["note"], ""]
                else:
                    cells += [_fmt(row["train_course_loss"]), _fmt(row["test_course_loss"])]
            if all(c in ("—", "as above") for c in cells):
                pending.append(f"{step} at {te} / {fe}, beta {beta}")
                continue
            lines.append([str(step), change, f"{te} / {fe}, {beta}", *cells])
    out = table(HEAD, lines)
    if pending:
        out += ["", "Not run yet: step " + ", ".join(pending) + "."]
    return out


# -- the campaign: `scripts/study.py ablation run|report` --------------------------------------------------------------

LENGTH_KEYS = ("train.epochs", "fit.epochs")  # the only settings a row's key records


def run(params: str = "params.yaml", table_path: str | os.PathLike = TABLE, settings_: list[str] = (),
        steps: list[int] | None = None, families=ABLATED_FAMILIES, dry_run: bool = False,
        beta: float | None = None) -> None:
    """Run every (step, family) the table lacks at the chosen lengths (params' train.epochs / fit.epochs, or `--set`
    ones) and KL weight (each family's own, or `beta`), appending a row as each finishes."""
    import subprocess

    import yaml

    from ..infra.runtime import describe, resolve_device, set_precision
    from .proxy import course_data

    other = [s for s in settings_ if s.partition("=")[0] not in LENGTH_KEYS]
    if other:
        raise VadlibError(f"--set {' '.join(other)}: the ablation takes only {' and '.join(LENGTH_KEYS)} (a row is "
                          "keyed by step, family and lengths); for another base, pass --params FILE and --table FILE")
    bad = [s for s in steps or [] if not 0 <= s < len(STEPS)]
    if bad:
        raise VadlibError(f"--steps: got {bad}, expected numbers 0-{len(STEPS) - 1}")
    raw = with_overrides(yaml.safe_load(Path(params).read_text()), settings_)
    cfg = parse_params(raw)
    te, fe = cfg.train.epochs, cfg.fit.epochs
    done = {row_key(r) for r in read_rows(table_path)}
    if beta is not None and not beta > 0:
        raise VadlibError(f"--beta: got {beta}, expected a KL weight > 0")
    todo = [s for s in settings(families, te, fe, beta)
            if (steps is None or s.step in steps)
            and (s.step, s.family, te, fe, f"{beta if beta is not None else cfg.variant(s.family).beta:g}") not in done]
    print(f"{len(todo)} runs to do at {te} / {fe} epochs" + (f", beta {beta:g}" if beta is not None else ""))
    for s in todo:
        print(f"  step {s.step} {s.family}: " + " ".join(f"{k}={v}" for k, v in s.overrides.items()))
    if dry_run or not todo:
        return
    set_precision(cfg.precision)
    device = resolve_device(cfg.device)
    data, test_images, _ = course_data(cfg)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    for s in todo:
        row = run_setting(raw, s, data, test_images, device)
        row.update(machine=describe(device), commit=commit)
        append_row(row, table_path)
        print(f"step {s.step} {s.family}: train {row.get('train_course_loss')}, test {row.get('test_course_loss')}"
              f" {row['note']}", flush=True)


def report(table_path: str | os.PathLike = TABLE) -> None:
    """Print the table's markdown, as `seeds report` puts it at the end of reports/study.md."""
    from ..measure.course import COURSE_REPORT

    original = {f: tuple(f"{v:.4f}" for v in COURSE_REPORT[f]) for f in ABLATED_FAMILIES}
    print("\n".join(markdown(read_rows(table_path), original)))


def register(parser) -> None:
    """`scripts/study.py ablation run|report`."""
    from ..infra.overrides import add_set_option

    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run_p = sub.add_parser("run", help=f"run the steps {TABLE} lacks, one row each")
    run_p.add_argument("--steps", type=int, nargs="*", help=f"step numbers 0-{len(STEPS) - 1} (default all)")
    run_p.add_argument("--families", nargs="*", default=list(ABLATED_FAMILIES), choices=ABLATED_FAMILIES)
    run_p.add_argument("--dry-run", action="store_true", help="list the runs still missing and stop")
    add_set_option(run_p)
    run_p.add_argument("--params", default="params.yaml")
    run_p.add_argument("--beta", type=float, help="the KL weight of every run (default: each family's own)")
    run_p.set_defaults(func=lambda a: run(a.params, a.table, a.settings, a.steps, a.families, a.dry_run, a.beta))
    rep_p = sub.add_parser("report", help="print the table as markdown (reports/study.md holds it too)")
    rep_p.set_defaults(func=lambda a: report(a.table))
    for p in (run_p, rep_p):
        p.add_argument("--table", default=str(TABLE))
