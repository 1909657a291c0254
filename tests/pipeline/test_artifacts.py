"""vadlib/pipeline/artifacts.py and dvc.yaml name the same files: every `outs`, `metrics` and `plots` path of every
stage (foreach stages expanded over params.yaml's variants) is what artifacts.py gives for that stage, and every
path artifacts.py defines is a stage's output, lies inside one, or is listed below as no stage output with why."""
import inspect
from pathlib import Path

import pytest
import yaml

from vadlib.core.samplers import REGISTRY as SAMPLERS
from vadlib.infra.config import load_params
from vadlib.pipeline import artifacts

ROOT = Path(__file__).resolve().parents[2]
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())
VARIANTS = list(load_params(ROOT / "params.yaml").variants)
KINDS = ("outs", "metrics", "plots")

# artifacts.py names that are no stage output of dvc.yaml, and what they are instead
NOT_OUTPUTS = {
    "resume": "the training checkpoint: outside DVC's outputs, deleted when training completes",
    "write_seconds": "a writer of `seconds(...)`, not a path",
    "STUDY_TABLE": "the seed study's table, written by scripts/study.py and committed",
    "STUDY_ANSWER": "the seed study's answer, written by scripts/study.py, committed, a dep of `report`",
    "VARIANT_METRICS": "the folder of every evaluate@<variant>'s metrics file, a dep of `report` and `compare`",
    "IMAGES": "the folder of every PNG: dvc.yaml's top-level `plots` entry, no stage's output",
    "images": "one variant's folder of figures, holding render's and tsne's outputs",
}
# files inside an output folder of dvc.yaml (prepare writes both folders whole): name -> the folder's name
INSIDE = {"TRAIN_DATA": "PREPARED", "TEST_DATA": "PREPARED", "POOL_DATA": "REFERENCE", "FULL_TEST_DATA": "REFERENCE",
          "VAL_DATA": "VALIDATION"}
COMMITTED_DEPS = {"report": ("STUDY_ANSWER", "VARIANT_METRICS"), "compare": ("VARIANT_METRICS",)}


def expanded_stages() -> dict[str, dict]:
    """dvc.yaml's stages, a foreach stage once per variant as `name@variant` with ${key} filled in."""
    out = {}
    for name, body in DVC["stages"].items():
        if "foreach" not in body:
            out[name] = body
            continue
        assert body["foreach"] == "${variants}", f"{name}: foreach over {body['foreach']}, expected ${{variants}}"
        text = yaml.safe_dump(body["do"])
        for variant in VARIANTS:
            out[f"{name}@{variant}"] = yaml.safe_load(text.replace("${key}", variant))
    return out


def entries(body: dict, kinds=KINDS) -> set[Path]:
    return {Path(e if isinstance(e, str) else next(iter(e))) for kind in kinds for e in body.get(kind, [])}


class Recorder:
    """artifacts, recording which names the expected outputs use."""

    def __init__(self):
        self.used = set()

    def __getattr__(self, name):
        self.used.add(name)
        return getattr(artifacts, name)


def outputs_by_artifacts(a) -> dict[str, set[Path]]:
    """What each stage writes, in artifacts.py's names: the pipeline's own account of dvc.yaml's outputs."""
    out = {
        "prepare": {a.PREPARED, a.REFERENCE, a.VALIDATION, a.DATA_METRICS},
        "evaluator": {a.EVALUATOR, a.EVALUATOR_METRICS, a.seconds("evaluator", "evaluator")},
        "report": {a.REPORT, a.COMPARISON_PNG},
        "compare": {a.SELECTED_METRICS, a.SELECTED_TRAIN, a.SELECTED_FIT, a.SELECTED_IMPUTE},
        "impute_baselines": {a.IMPUTE_BASELINES, a.IMPUTE_BASELINE_CURVE, a.seconds("impute", "baselines")},
    }
    for v in VARIANTS:
        out[f"train@{v}"] = {a.model(v), a.train_curve(v), a.seconds("train", v)}
        out[f"fit@{v}"] = {a.fitted(v), a.fit_curve(v), a.seconds("fit", v)}
        out[f"evaluate@{v}"] = {a.metrics(v), a.per_image(v), a.seconds("evaluate", v)}
        out[f"impute@{v}"] = {a.impute_metrics(v), a.impute_curve(v), a.grid_png(v, "imputation"),
                               a.seconds("impute", v)}
        out[f"tsne@{v}"] = {a.tsne_csv(v, "train"), a.tsne_csv(v, "test"), a.tsne_png(v), a.seconds("tsne", v)}
        out[f"render@{v}"] = {a.grid_png(v, "reconstructions"), a.samples_dir(v), a.grid_png(v, "interpolations"),
                              a.seconds("render", v)}
    return out


STAGES = expanded_stages()
EXPECTED = outputs_by_artifacts(artifacts)


def test_every_stage_is_accounted_for():
    assert set(STAGES) == set(EXPECTED)
    assert {f"train@{v}" for v in VARIANTS} <= set(STAGES) and len(VARIANTS) >= 2


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_stage_declares_exactly_the_paths_artifacts_gives_it(stage):
    declared = entries(STAGES[stage])
    assert len(declared) == sum(len(STAGES[stage].get(k, [])) for k in KINDS), f"{stage}: a path declared twice"
    missing = declared - EXPECTED[stage]
    assert not missing, f"dvc.yaml's {stage} declares {sorted(map(str, missing))}, which artifacts.py does not give it"
    extra = EXPECTED[stage] - declared
    assert not extra, f"artifacts.py gives {stage} {sorted(map(str, extra))}, which dvc.yaml does not declare"


def _public_paths() -> set[str]:
    """Every name artifacts.py defines for a path: module-level Path constants and the functions it defines."""
    names = set()
    for name, value in vars(artifacts).items():
        if name.startswith("_"):
            continue
        if isinstance(value, Path) or (inspect.isfunction(value) and value.__module__ == artifacts.__name__):
            names.add(name)
    return names


def test_every_path_artifacts_defines_is_a_stage_output_or_named_as_none():
    recorder = Recorder()
    assert outputs_by_artifacts(recorder) == EXPECTED
    unused = _public_paths() - recorder.used - set(NOT_OUTPUTS) - set(INSIDE)
    assert not unused, (f"artifacts.py defines {sorted(unused)}, which no stage of dvc.yaml outputs: declare it in "
                        "dvc.yaml, or list it in NOT_OUTPUTS (or INSIDE) with what it is")
    stale = (set(NOT_OUTPUTS) | set(INSIDE)) - _public_paths()
    assert not stale, f"NOT_OUTPUTS or INSIDE name {sorted(stale)}, which artifacts.py no longer defines"
    assert not (set(NOT_OUTPUTS) | set(INSIDE)) & recorder.used


def test_the_inputs_inside_an_output_folder_lie_in_it():
    """The files the stages read from prepare's folders, and render's sample grids, are inside declared outputs."""
    outputs = set().union(*EXPECTED.values())
    for name, folder in INSIDE.items():
        assert getattr(artifacts, name).parent == getattr(artifacts, folder) and getattr(artifacts, folder) in outputs
    for v in VARIANTS:
        for sampler in SAMPLERS:  # render writes grid_png(v, "samples/<sampler>") for every sampler
            assert artifacts.grid_png(v, f"samples/{sampler}").parent == artifacts.samples_dir(v)
        assert artifacts.metrics(v).parent == artifacts.VARIANT_METRICS
        for png in (artifacts.tsne_png(v), artifacts.grid_png(v, "reconstructions"), artifacts.samples_dir(v)):
            assert artifacts.images(v) in png.parents and artifacts.IMAGES in png.parents
    assert artifacts.COMPARISON_PNG.parent == artifacts.IMAGES


def test_the_committed_files_the_report_reads_are_its_deps_and_no_stage_writes_them():
    everything = set().union(*(entries(body) for body in STAGES.values()))
    for stage, names in COMMITTED_DEPS.items():
        deps = {Path(d if isinstance(d, str) else next(iter(d))) for d in STAGES[stage]["deps"]}
        for name in names:
            path = getattr(artifacts, name)
            assert path in deps, f"{stage} reads {path} ({name}) but dvc.yaml does not list it as a dep"
            assert path not in everything
    assert not any(artifacts.resume(v) in everything or artifacts.resume(v).parent in everything for v in VARIANTS)


def test_the_overlay_plots_read_stage_outputs():
    """dvc.yaml's top-level `plots` name files the stages write (and the folder of every PNG)."""
    named = set()
    for entry in DVC["plots"]:
        spec = entry if isinstance(entry, str) else next(iter(entry.values()))
        if isinstance(spec, str) or spec is None:
            named.add(Path(entry if isinstance(entry, str) else next(iter(entry))))
        else:
            y = spec["y"]
            named |= {Path(p) for p in (y if isinstance(y, dict) else [y])}
    outputs = set().union(*EXPECTED.values())
    assert named - outputs == {artifacts.IMAGES}, sorted(map(str, named - outputs))
