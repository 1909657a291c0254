"""The tuning scripts' shared pieces: params overrides and the full-evaluation proxy's guard."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest
from vadlib.infra.errors import ConfigError
from vadlib.workflows.proxy import apply_override, headline

ROOT = Path(__file__).resolve().parents[1]


def _script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_apply_override_sets_nested_and_top_level_keys_as_yaml_values():
    raw = {"seed": 0, "train": {"epochs": 200}, "variants": {"normal": {"beta": 0.002}}}
    for s in ("seed=3", "train.epochs=150", "variants.normal.beta=2e-4", "train.schedule=constant"):
        apply_override(raw, s)
    assert raw == {"seed": 3, "train": {"epochs": 150, "schedule": "constant"},
                   "variants": {"normal": {"beta": 2e-4}}}
    with pytest.raises(KeyError):
        apply_override(raw, "nosuch.key=1")


def test_evaluate_one_refuses_settings_that_change_the_reused_data_or_evaluator(tmp_path, monkeypatch):
    params = tmp_path / "params.yaml"
    params.write_text((ROOT / "params.yaml").read_text())
    module = _script("evaluate_one")
    for setting in ("data.n_train=500", "evaluator.epochs=2"):
        monkeypatch.setattr(sys, "argv", ["evaluate_one.py", "normal", setting, "--params", str(params)])
        with pytest.raises(ConfigError, match="may not change `data` or `evaluator`"):
            module.main()


def test_headline_reads_a_metrics_file():
    metrics = json.loads((ROOT / "metrics/variants/normal.json").read_text())
    h = headline(metrics)
    best = metrics["samples"][metrics["best_sampler"]["name"]]
    assert h["best_fd"] == best["fd"] and h["recognisable"] == best["recognisable"]
    assert h["knn_accuracy"] == metrics["latent"]["knn_accuracy"]
    assert json.loads(json.dumps(h)) == h  # printable as one JSON line
