"""The full-scale settings (one place, vadlib/studies/full_scale.py, for scripts/full_scale.py and the GPU tools) and
the command's guard (its end-to-end run on tiny data is in tests/pipeline/test_end_to_end.py)."""
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from vadlib.infra.config import parse_params
from vadlib.infra.overrides import with_overrides
from vadlib.studies import full_scale

ROOT = Path(__file__).resolve().parents[2]


def test_the_settings_follow_the_large_batch_rule_and_are_valid_params():
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    cfg = parse_params(with_overrides(raw, full_scale.SETTINGS))
    base = raw["train"]["lr_decoder"] * math.sqrt(cfg.train.batch_size / raw["train"]["batch_size"])
    assert cfg.train.lr_decoder == pytest.approx(base, abs=5e-7) and cfg.train.lr_decoder == 0.002828
    assert (cfg.data.n_train, cfg.data.n_test, cfg.fit.batch_size) == (60000, 10000, 8 * cfg.train.batch_size)
    assert cfg.train.lr_latent == raw["train"]["lr_latent"] and cfg.fit.lr == raw["fit"]["lr"]


def test_the_command_prints_the_one_copy_of_the_settings():
    out = subprocess.run([sys.executable, str(ROOT / "scripts/full_scale.py"), "settings"], capture_output=True,
                         text=True, check=True).stdout
    assert out.splitlines() == list(full_scale.SETTINGS)
    for tool in ("gpu_run.py", "gpu_check.py"):  # no copy of their own
        text = (ROOT / "benchmarks" / tool).read_text()
        assert "full_scale.SETTINGS" in text and "lr_decoder" not in text


def test_the_full_scale_command_refuses_a_cpu_unless_asked(monkeypatch):
    import vadlib.infra.runtime as runtime

    monkeypatch.setattr(runtime, "resolve_device", lambda name="auto": torch.device("cpu"))
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit, match="--allow-cpu"):
        full_scale.run("never-started", allow_cpu=False, settings=[])


def test_the_full_scale_report_keeps_text_and_number_tables_and_drops_figures():
    lines = ["text", "| ad | normal |", "|---|---|", "| ![ad](../plots/a.png) | ![n](../plots/n.png) |", "more",
             "![fig](../plots/c.png)", "| variant | fd |", "|---|---|", "| ad | 8.19 |", "end"]
    assert full_scale.without_figures(lines) == ["text", "more", "| variant | fd |", "|---|---|", "| ad | 8.19 |",
                                                 "end"]
