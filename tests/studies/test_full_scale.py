"""The full-scale command's guard (its end-to-end run on tiny data is in test_pipeline_e2e.py)."""
import importlib.util
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("full_scale", ROOT / "scripts/full_scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_full_scale_command_refuses_a_cpu_unless_asked(monkeypatch):
    import vadlib.infra.runtime as runtime

    full_scale = _script()
    monkeypatch.setattr(runtime, "resolve_device", lambda name="auto": torch.device("cpu"))
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit, match="--allow-cpu"):
        full_scale.run("never-started", allow_cpu=False, settings=[])


def test_the_full_scale_report_keeps_text_and_number_tables_and_drops_figures():
    full_scale = _script()
    lines = ["text", "| ad | normal |", "|---|---|", "| ![ad](../plots/a.png) | ![n](../plots/n.png) |", "more",
             "![fig](../plots/c.png)", "| variant | fd |", "|---|---|", "| ad | 8.19 |", "end"]
    assert full_scale.without_figures(lines) == ["text", "more", "| variant | fd |", "|---|---|", "| ad | 8.19 |",
                                                 "end"]
