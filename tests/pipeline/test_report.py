"""The report's sentences say what the run did and how sure we are, and its tables show the metrics files' numbers."""
import dataclasses
import json
import math
from pathlib import Path

import pytest

from report_tables import check_report
from vadlib.infra.config import FitConfig, load_params
from vadlib.pipeline.report import (_noise_sentence, build_report, fit_sentence, metrics_table, samples_section,
                                     std_upper_factor)

ROOT = Path(__file__).resolve().parents[2]


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


def test_the_committed_report_shows_the_committed_metrics():
    """reports/report.md against metrics/variants/*.json (in params order) and metrics/evaluator.json: every table
    cell equals its metrics value at the digits it prints."""
    variants = list(load_params(ROOT / "params.yaml").variants)
    assert sorted(variants) == sorted(p.stem for p in (ROOT / "metrics/variants").glob("*.json"))
    metrics = {name: json.loads((ROOT / f"metrics/variants/{name}.json").read_text()) for name in variants}
    evaluator = json.loads((ROOT / "metrics/evaluator.json").read_text())
    checked = check_report((ROOT / "reports/report.md").read_text(), metrics, evaluator)
    assert checked >= 4 * (8 + 14 + 7)  # three tables (8, 14 and 7 columns), four variants


def _report_inputs():
    variants = ["ad", "normal"]
    metrics = {name: json.loads((ROOT / f"metrics/variants/{name}.json").read_text()) for name in variants}
    return metrics, json.loads((ROOT / "metrics/evaluator.json").read_text())


def test_the_report_check_sees_a_changed_number_a_swapped_column_and_a_stale_report():
    """The check above can fail: a report built from the metrics passes; with one number off by a printed digit, two
    columns swapped or a metrics value moved past the printed precision, it does not."""
    metrics, evaluator = _report_inputs()
    cfg = load_params(ROOT / "params.yaml")
    report = build_report(cfg, metrics, evaluator)
    check_report(report, metrics, evaluator)
    psnr = f"{metrics['ad']['test']['psnr']:.2f}"
    bumped = f"{metrics['ad']['test']['psnr'] + 0.01:.2f}"
    with pytest.raises(AssertionError, match=r"ad / test PSNR \(dB\)"):
        check_report(report.replace(f"| {psnr} |", f"| {bumped} |", 1), metrics, evaluator)
    header = "| 5-NN probe | 5-NN, cosine |"
    with pytest.raises(AssertionError, match="5-NN"):
        check_report(report.replace(header, "| 5-NN, cosine | 5-NN probe |"), metrics, evaluator)
    stale = json.loads(json.dumps(metrics))
    stale["normal"]["samples"]["gmm"]["fd"] += 0.006
    with pytest.raises(AssertionError, match="normal / FD gmm"):
        check_report(report, stale, evaluator)
    with pytest.raises(AssertionError, match="evaluator"):
        check_report(report, metrics, {**evaluator, "test_accuracy": evaluator["test_accuracy"] + 0.001})
    with pytest.raises(AssertionError, match="maps to no metrics key"):
        check_report(report.replace("| min class share |", "| smallest class |"), metrics, evaluator)


def _answer_metrics(name, test, fd, recognisable, kl=None, knn=0.76, units=100):
    rows = {"real": _row(1.3, 0.82), "reconstruction": _row(6.4, 0.74), "prior": _row(60.0, 0.15),
            "class_gmm": _row(fd, recognisable)}
    out = {"test": {"course_loss": test}, "samples": rows,
           "best_sampler": {"name": "class_gmm", "fd_vs_baseline": 0.2, "recognisable_vs_real": 0.9},
           "latent": {"knn_accuracy": knn, "active_units": units, "pixel_knn_accuracy": 0.771}}
    if kl is not None:
        out["test"].update(kl=kl, nelbo=kl - 2000.0)
    return out


def test_the_answer_states_each_effect_against_the_seed_noise():
    """Hand-made figures: the VADs' test losses spread by 0.0001 (std 0.00011: within); the AD sits 0.00097 below
    their mean (> 3 std = 0.00033 but < 3 x the 3-seed upper bound 0.0015: suggestive); best FDs spread by 0.24
    (std 0.02: > 0.06, < 3 x 0.088 = 0.27: suggestive); recognisable spread 0.012 with std 0.0018 (upper bound
    0.0079, so 0.012 < 0.024: suggestive); the 5-NN spread 0.011 with std 0.0095 (within)."""
    from vadlib.infra.config import parse_params
    from vadlib.pipeline.report import answer_section

    metrics = {"ad": _answer_metrics("ad", 0.0981, 8.19, 0.757, knn=0.762, units=8),
               "normal": _answer_metrics("normal", 0.0990, 8.10, 0.760, kl=351.0, knn=0.769),
               "uniform": _answer_metrics("uniform", 0.0991, 8.34, 0.754, kl=366.3, knn=0.758),
               "laplace": _answer_metrics("laplace", 0.0991, 8.28, 0.748, kl=364.4, knn=0.760)}
    noise = {"std": {"test.course_loss": 0.00011, "best_fd": 0.02, "best_recognisable": 0.0018,
                     "latent.knn_accuracy": 0.0095}, "seeds": [0, 1, 2], "variant": "normal", "command": "x"}
    cfg = parse_params({"variants": {n: {"distribution": n, "beta": 0.2 if n == "ad" else 0.002} for n in metrics}})
    lines = answer_section(cfg, metrics, noise)
    assert lines[0] == "## Answer" and 3 <= len([l for l in lines if l.startswith("- ")]) <= 6
    text = "\n".join(lines)
    assert ("the 3 VAD families reach test course_loss 0.0990 to 0.0991 (a spread of 0.0001, within the seed noise; "
            "seed std 0.00011); `ad` reaches 0.0981, 0.00097 below their mean (beyond 3 seed stds but not beyond 3 x "
            "the std's 95% upper bound: suggestive, not settled)") in text
    assert "N(0, I) the VADs' samples score FD 60.0" in text
    assert "scores FD 8.10 to 8.34 across variants (a spread of 0.24, beyond 3 seed stds" in text
    assert "recognisable at 0.748 to 0.760 (real images 0.820; a spread of 0.012, beyond 3 seed stds" in text
    assert "carry 351.0 to 366.3 nats of KL to N(0, I), and a test negative ELBO of -1649.0 to -1633.7 nats" in text
    assert "reads 0.758 to 0.769 on the codes (raw pixels 0.771; a spread of 0.011, within the seed noise" in text
    assert "`ad` 8, `normal` 100" in text and "(KL weight 0.002)" in text and "[study.md](study.md)" in text
    # without seed noise nothing is called within or beyond it
    bare = "\n".join(answer_section(cfg, metrics, None))
    assert "within the seed noise" not in bare and "its seed noise is not measured" in bare
