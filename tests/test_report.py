"""The report's sentences say what the run did and how sure we are."""
import dataclasses
import math

import pytest

from vadlib.infra.config import FitConfig
from vadlib.workflows.report import _noise_sentence, fit_sentence, metrics_table, samples_section, std_upper_factor


def test_fit_sentence_names_the_start_the_params_use():
    assert "`fit.init: random`" in fit_sentence(FitConfig(init="random"))
    nearest = fit_sentence(dataclasses.replace(FitConfig(), init="nearest", lr=0.2, epochs=100))
    assert "`fit.init: nearest`" in nearest and "100 epochs at lr 0.2" in nearest


def test_noise_sentence_compares_the_spread_with_three_stds():
    noise = {"std": {"test.course_loss": 0.0002}, "seeds": [0, 1, 2], "variant": "normal", "command": "x"}
    assert "within the run-to-run noise" in _noise_sentence(noise, "test.course_loss", 0.0005, "loss")
    assert "larger than the run-to-run noise" in _noise_sentence(noise, "test.course_loss", 0.0007, "loss")
    assert "not measured" in _noise_sentence(None, "test.course_loss", 0.1, "loss")


def test_a_three_seed_std_settles_only_spreads_beyond_its_upper_bound():
    # 2 degrees of freedom: chi2's 5% quantile is -2 ln 0.95 in closed form, so the bound is sqrt(2 / that)
    assert std_upper_factor(3) == pytest.approx(math.sqrt(2 / (-2 * math.log(0.95))))
    assert std_upper_factor(10) < std_upper_factor(3) < std_upper_factor(2)
    noise = {"std": {"best_fd": 0.02}, "seeds": [0, 1, 2], "variant": "normal", "command": "x"}
    within = _noise_sentence(noise, "best_fd", 0.05, "FD")
    suggestive = _noise_sentence(noise, "best_fd", 0.24, "FD")  # > 3 x 0.02, < 3 x 4.42 x 0.02
    settled = _noise_sentence(noise, "best_fd", 0.3, "FD")
    assert "within" in within and "upper bound" not in within
    assert "larger than" in suggestive and "suggestive, not settled" in suggestive
    assert "larger than" in settled and "even against 3 x the std's 95% upper bound (0.088)" in settled


def _split(loss):
    return {"course_loss": loss, "mse": 0.007, "psnr": 21.4}


def test_metrics_table_shows_the_refit_column_only_when_a_variant_has_it():
    plain = {"ad": {"train": _split(0.046), "test": _split(0.098)}}
    table = metrics_table(plain)
    assert "train refit" not in table
    header, rule, row = table.splitlines()
    assert header.count("|") == rule.count("|") == row.count("|")
    refit_variant = {"train": _split(0.040), "train_refit": _split(0.0365), "test": {**_split(0.099), "kl": 342.0}}
    both = {**plain, "normal": refit_variant}
    header, rule, *rows = metrics_table(both).splitlines()
    assert "train refit" in header and header.count("|") == rule.count("|") == rows[0].count("|") == rows[1].count("|")
    assert "| 0.0365 |" in rows[1] and "| ad | 0.0460 | – | **0.0980** |" in rows[0]


def _row(fd, recognisable):
    return {"fd": fd, "recognisable": recognisable, "min_class_share": 0.07, "precision": 0.9, "recall": 0.5,
            "density": 1.0, "coverage": 0.9, "nn_train_ratio": 0.95, "nn_train_pixel_ratio": 0.8}


def test_samples_section_judges_the_recognisable_spread_against_its_seed_noise():
    def variant(recognisable):
        rows = {"real": _row(2.3, 0.8), "reconstruction": _row(6.5, 0.74), "gmm": _row(10.0, recognisable)}
        return {"samples": rows, "best_sampler": {"name": "gmm", "fd_vs_baseline": 0.2, "recognisable_vs_real": 0.8}}
    noise = {"std": {"best_fd": 0.5, "best_recognisable": 0.01}, "seeds": [0, 1, 2], "variant": "normal",
             "command": "x"}
    close = " ".join(samples_section({"ad": variant(0.70), "normal": variant(0.68)}, noise, 1000))
    assert "recognisable rate: `ad` 0.700; lowest: `normal` 0.680. The spread between variants (0.02) is within" in close
    apart = " ".join(samples_section({"ad": variant(0.70), "normal": variant(0.60)}, noise, 1000))
    assert "(0.1) is larger than the run-to-run noise" in apart
