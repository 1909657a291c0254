"""The report's sentences say what the run did and how sure we are, and its tables show the metrics files' numbers."""
import dataclasses
import json
from pathlib import Path

import pytest

from report_tables import check_report
from vadlib.infra.config import FitConfig, load_params
from vadlib.pipeline.report import NOT_A_COPY, build_report, fit_sentence, metrics_table, samples_section

ROOT = Path(__file__).resolve().parents[2]


def test_fit_sentence_names_the_start_the_params_use():
    assert "`fit.init: random`" in fit_sentence(FitConfig(init="random"))
    nearest = fit_sentence(dataclasses.replace(FitConfig(), init="nearest", lr=0.2, epochs=100))
    assert "`fit.init: nearest`" in nearest and "100 epochs at lr 0.2" in nearest


def test_the_report_gate_is_the_evaluations_gate():
    from vadlib.measure import gate, generation

    assert NOT_A_COPY is gate.NOT_A_COPY is generation.NOT_A_COPY


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


def test_samples_section_shows_the_gate_and_judges_nothing():
    def variant(recognisable, ratio=0.95):
        rows = {"real": _row(2.3, 0.8), "reconstruction": _row(6.5, 0.74), "gmm": _row(10.0, recognisable),
                "class_gmm": {**_row(9.0, recognisable), "nn_train_ratio": ratio}}
        return {"samples": rows, "best_sampler": {"name": "gmm", "fd_vs_baseline": 0.2, "recognisable_vs_real": 0.8}}
    lines = samples_section({"ad": variant(0.70), "normal": variant(0.60, ratio=0.85)}, 1000, 3)
    text = "\n".join(lines)
    assert "passes the no-copy gate: best / class_gmm |" in text
    assert text.count("| yes / yes |") == 1 and text.count("| yes / no |") == 1
    assert "one run's figures (seed 3)" in text and "noise" not in text


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
    stale["normal"]["samples"]["gmm"]["fd"] += 0.011  # more than one printed digit (0.01): always shows
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


def test_without_the_study_the_answer_lists_this_runs_figures_unjudged():
    """No answer file: one line per headline figure with this run's values, and no verdict from one run."""
    from vadlib.infra.config import parse_params
    from vadlib.pipeline.report import answer_section

    metrics = {"ad": _answer_metrics("ad", 0.0981, 8.19, 0.757, knn=0.762, units=8),
               "normal": _answer_metrics("normal", 0.0990, 8.10, 0.760, kl=351.0, knn=0.769),
               "uniform": _answer_metrics("uniform", 0.0991, 8.34, 0.754, kl=366.3, knn=0.758)}
    metrics["uniform"]["test"]["kl_floor"] = 17.65
    metrics["normal"]["test"]["kl_floor"] = 0.0
    metrics["normal"]["samples"]["class_gmm"]["nn_train_ratio"] = 0.85  # fails the gate: not shown
    cfg = parse_params({"seed": 4, "variants": {n: {"distribution": n, "beta": 0.2 if n == "ad" else 0.002}
                                                for n in metrics}})
    lines = answer_section(cfg, metrics)
    bullets = [ln for ln in lines if ln.startswith("- ")]
    assert lines[0] == "## Answer" and "This run (seed 4)" in "\n".join(lines)
    one_run = "; not judged: one run (see [reports/study.md](study.md) for the seed-replicated comparison)."
    assert all(b.endswith(one_run) for b in bullets)
    assert bullets[0] == "- test course_loss: `ad` 0.0981, `normal` 0.0990, `uniform` 0.0991" + one_run
    assert bullets[1] == "- `class_gmm` FD: `ad` 8.19, `uniform` 8.34" + one_run
    assert any(b.startswith("- test KL above the family's floor (nats): `normal` 351.0, `uniform` 348.")
               for b in bullets)
    assert not any("bits/dim" in b for b in bullets)  # not measured in this run: no line
    text = "\n".join(lines)
    assert "differs" not in text and "equivalent" not in text and "noise" not in text


def test_the_imputation_section_shows_every_condition_for_each_variant_and_baseline():
    from vadlib.pipeline.report import imputation_section

    names = list(load_params(ROOT / "params.yaml").variants)
    imputed = {n: json.loads((ROOT / f"metrics/impute/{n}.json").read_text()) for n in names}
    base = json.loads((ROOT / "metrics/impute/baselines.json").read_text())
    text = "\n".join(imputation_section(imputed, base, 0))
    assert imputation_section({}, None, 0) == []  # no impute stage ran: no section
    blocks = text.split("\n**")[1:]
    assert len(blocks) == len(imputed["normal"]["conditions"])
    for block, (key, cond) in zip(blocks, imputed["normal"]["conditions"].items()):
        rows = {ln.split("|")[1].strip(): [c.strip() for c in ln.strip("|").split("|")[1:]]
                for ln in block.splitlines() if ln.startswith("| ") and not ln.startswith("| imputed by")}
        assert list(rows) == [f"`{n}`" for n in names] + [f"k-NN (k = {base['knn_k']})", "train mean"]
        for n in names:
            c = imputed[n]["conditions"][key]
            u = c["uncertainty"] or {}
            coverage = "–" if u.get("coverage_90") is None else f"{u['coverage_90']:.3f}"
            assert rows[f"`{n}`"][:3] == [f"{c['missing']['mse']:.4f}", f"{c['accuracy']:.3f}", coverage], (n, key)
        knn = base["conditions"][key]["knn"]
        assert rows[f"k-NN (k = {base['knn_k']})"][:2] == [f"{knn['missing']['mse']:.4f}", f"{knn['accuracy']:.3f}"]
    assert rows["`ad`"][2] == "–" and "one run's figures (seed 0)" in text
    assert f"over {imputed['normal']['samples']} completions" in text and "None" not in text
