"""The `compare` stage mirrors one variant, imputation included, to the paths DVC's revision diffs compare."""
import json

import pytest

from vadlib.infra.errors import ConfigError
from vadlib.pipeline import artifacts as a
from vadlib.pipeline.compare import select_variant


def test_the_selected_variant_brings_its_metrics_imputation_and_curves(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for path, text in ((a.metrics("normal"), json.dumps({"variant": "normal", "test": {"course_loss": 0.099}})),
                       (a.impute_metrics("normal"), json.dumps({"variant": "normal", "conditions": {
                           "bottom_half": {"missing": {"mse": 0.042}}}})),
                       (a.train_curve("normal"), "epoch,loss\n1,2.0\n"), (a.fit_curve("normal"), "epoch,test_loss\n1,3\n"),
                       (a.impute_curve("normal"), "ratio,mse_missing\n0.5,0.011\n")):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    select_variant("normal", ["ad", "normal"])
    selected = json.loads(a.SELECTED_METRICS.read_text())
    assert selected["compare"] == "normal" and selected["test"]["course_loss"] == 0.099
    assert selected["imputation"] == {"conditions": {"bottom_half": {"missing": {"mse": 0.042}}}}
    assert a.SELECTED_IMPUTE.read_text() == "ratio,mse_missing\n0.5,0.011\n"
    assert a.SELECTED_FIT.read_text() == "epoch,test_loss\n1,3\n"
    with pytest.raises(ConfigError, match="compare: got 'gamma'"):
        select_variant("gamma", ["ad", "normal"])
