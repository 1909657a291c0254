"""The report's sentences say what the run did and how sure we are."""
import dataclasses

from vadlib.infra.config import FitConfig
from vadlib.workflows.report import _noise_sentence, fit_sentence


def test_fit_sentence_names_the_start_the_params_use():
    assert "`fit.init: random`" in fit_sentence(FitConfig(init="random"))
    nearest = fit_sentence(dataclasses.replace(FitConfig(), init="nearest", lr=0.2, epochs=100))
    assert "`fit.init: nearest`" in nearest and "100 epochs at lr 0.2" in nearest


def test_noise_sentence_compares_the_spread_with_three_stds():
    noise = {"std": {"test.course_loss": 0.0002}, "seeds": [0, 1, 2], "variant": "normal", "command": "x"}
    assert "within the run-to-run noise" in _noise_sentence(noise, "test.course_loss", 0.0005, "loss")
    assert "larger than the run-to-run noise" in _noise_sentence(noise, "test.course_loss", 0.0007, "loss")
    assert "not measured" in _noise_sentence(None, "test.course_loss", 0.1, "loss")
