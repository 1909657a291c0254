"""The latent-distribution study: its table, its statistics (known answers), its report, the test negative ELBO, and
(slow) one queued run of the real dvc.yaml on a tiny project, collected into the table."""
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from helpers import StandIn, tiny_config, tiny_data
from vadlib.core.distributions import get_distribution
from vadlib.infra.errors import VadlibError
from vadlib.measure.reconstruction import course_loss_from_squared_errors, gaussian_nll, negative_elbo
from vadlib.pipeline import evaluate as evaluate_mod
from vadlib.pipeline.report import describes
from vadlib.studies import ablation
from vadlib.studies import seed_study as study
from vadlib.studies.answer import answer, answer_file

ROOT = Path(__file__).resolve().parents[2]


# -- grid and names ------------------------------------------------------------------------------------------------

def test_the_grid_has_ten_seeds_where_open_three_at_beta_002_in_seed_blocks():
    runs = study.grid(0.2)
    assert len(runs) == 109 and len({r.name for r in runs}) == 109
    assert sum(r.variant == "ad" for r in runs) == 10 and {r.beta for r in runs if r.variant == "ad"} == {0.2}
    seeds = {(r.variant, r.beta): set() for r in runs}
    for r in runs:
        seeds[(r.variant, r.beta)].add(r.seed)
    assert all(s == set(range(10)) for (v, b), s in seeds.items() if b != 0.02)
    assert all(s == {0, 1, 2} for (v, b), s in seeds.items() if b == 0.02)
    assert [r.seed for r in runs] == sorted(r.seed for r in runs)  # whole seed blocks first
    assert {r.beta for r in runs if r.variant == "laplace"} == {0.002, 0.02, 0.2, 1.0}
    assert runs[0].name == "study-normal-b0.002-s0"
    for r in runs:
        assert study.parse_run_name(r.name) == r
    assert study.parse_run_name("study-my-var-b1e-05-s2") == study.Run("my-var", 1e-5, 2)
    with pytest.raises(VadlibError, match="not a study run name"):
        study.parse_run_name("rd-beta-0.002")


# -- the table -----------------------------------------------------------------------------------------------------

def metrics_file(loss=0.1, kl=350.0, fd=8.0, point=False, ratio=0.95, floor=0.0, knn=0.76, recognisable=0.75):
    test = {"course_loss": loss, "mse": 0.01, "psnr": 20.0}
    if not point:
        test.update(kl=kl, nelbo=kl - 900.0, nelbo_rec=-900.0, nelbo_sigma=0.1, kl_floor=floor)
    return {"variant": "x", "distribution": "ad" if point else "normal", "test": test,
            "latent": {"knn_accuracy": knn, "logreg_accuracy": 0.8, "active_units": 100},
            "samples": {"class_gmm": {"fd": fd, "recognisable": recognisable, "precision": 0.7, "recall": 0.6,
                                      "density": 0.9, "coverage": 0.8, "nn_train_ratio": ratio}},
            "best_sampler": {"name": "class_gmm"}}


SECONDS = {"train": {"train_seconds": 200.0, "device": "cpu (2 threads)"},
           "fit": {"fit_seconds": 60.5, "device": "cpu (2 threads)"},
           "evaluate": {"evaluate_seconds": 40.25, "device": "cpu (2 threads)"}}


def impute_file(mse=0.02, accuracy=0.85, coverage=None):
    """A metrics/impute/<variant>.json with the default conditions (the AD: coverage None, no uncertainty)."""
    u = None if coverage is None else {"samples": 20, "mean_std": 0.01, "correlation": 0.45,
                                       "coverage_50": coverage / 2, "coverage_90": coverage}
    return {"conditions": {c: {"missing": {"mse": mse, "psnr": 17.0}, "accuracy": accuracy, "uncertainty": u}
                           for c in ("random_0.5", "bottom_half", "centre_square")}}


def row(variant="normal", beta=0.002, seed=0, imputation=None, **kw):
    run = study.Run(variant, beta, seed)
    return study.row_from_metrics(run, metrics_file(point=variant == "ad", **kw), SECONDS, "a" * 40, "b" * 40,
                                  imputation=imputation)


def test_a_row_carries_every_judged_figure():
    r = row(loss=0.099, fd=8.1)
    assert r["run"] == "study-normal-b0.002-s0" and r["family"] == "normal" and r["best_sampler"] == "class_gmm"
    assert r["test_course_loss"] == 0.099 and r["best_fd"] == 8.1 and r["test_kl"] == 350.0
    assert r["test_nelbo"] == -550.0 and r["best_coverage"] == 0.8 and r["logreg_accuracy"] == 0.8
    assert r["seconds"] == 300.75 and r["machine"] == "cpu (2 threads)"
    assert r["class_gmm_fd"] == 8.1 and r["class_gmm_recognisable"] == 0.75 and r["prior_fd"] is None
    ad = row("ad", 0.2)
    assert ad["test_kl"] is None and ad["test_nelbo"] is None
    assert all(r[c] is None for c in study.IMPUTE_COLUMNS)  # a run that did not impute: empty, not an error
    imputed = row(imputation=impute_file(mse=0.03, coverage=0.4))
    assert imputed["impute_bottom_mse"] == 0.03 and imputed["impute_centre_coverage_90"] == 0.4
    assert imputed["impute_random50_spread_corr"] == 0.45 and imputed["impute_random50_accuracy"] == 0.85
    ad = row("ad", 0.2, imputation=impute_file())
    assert ad["impute_bottom_mse"] == 0.02 and ad["impute_bottom_coverage_90"] is None
    with pytest.raises(VadlibError, match="lacks"):
        study.row_from_metrics(study.Run("normal", 1.0, 0), {"test": {}}, {}, "", "")


def test_the_table_appends_and_a_resume_skips_finished_runs(tmp_path):
    path = tmp_path / "runs.csv"
    added, skipped = study.append_rows(path, [row(seed=0), row(seed=1)])
    assert added == ["study-normal-b0.002-s0", "study-normal-b0.002-s1"] and skipped == []
    added, skipped = study.append_rows(path, [row(seed=1, loss=0.5), row("ad", 0.2, 0)])
    assert added == ["study-ad-b0.2-s0"] and skipped == ["study-normal-b0.002-s1"]
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(study.COLUMNS) and len(lines) == 4
    df = study.load_table(path)
    assert list(df.run) == ["study-normal-b0.002-s0", "study-normal-b0.002-s1", "study-ad-b0.2-s0"]
    assert df.test_course_loss.tolist() == [0.1, 0.1, 0.1]  # the second seed-1 row (0.5) was skipped
    assert math.isnan(df.test_kl.iloc[2]) and df.seed.tolist() == [0, 1, 0]
    # beta written differently is the same run
    assert study.append_rows(path, [{**row(seed=0), "beta": "2e-3"}]) == ([], ["study-normal-b0.002-s0"])


def test_the_table_is_written_atomically(tmp_path, monkeypatch):
    path = tmp_path / "runs.csv"
    study.append_rows(path, [row(seed=0)])
    before = path.read_bytes()

    def fail(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("vadlib.infra.io.os.replace", fail)
    with pytest.raises(VadlibError, match="disk full"):
        study.append_rows(path, [row(seed=1)])
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["runs.csv"]


def test_a_foreign_table_or_a_bad_row_is_one_clear_error(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(VadlibError, match="not the study table"):
        study.append_rows(path, [row()])
    incomplete = row()
    del incomplete["best_fd"]
    with pytest.raises(VadlibError, match="missing columns best_fd"):
        study.append_rows(tmp_path / "new.csv", [incomplete])
    with pytest.raises(VadlibError, match="non-finite"):
        study.append_rows(tmp_path / "new.csv", [row(loss=float("nan"))])
    assert not (tmp_path / "new.csv").exists()


# -- statistics ----------------------------------------------------------------------------------------------------

def test_course_loss_from_per_image_squared_errors_is_the_course_loss():
    """The per-image table holds squared errors on [0, 1]; the course's batched 0-255 measure follows from them
    (1000 images: 15 batches of 64 and a short one of 40)."""
    from vadlib.measure.reconstruction import course_loss, per_image_squared_error

    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (1000, 28, 28), generator=gen, dtype=torch.uint8)
    recon = torch.rand(1000, 1, 28, 28, generator=gen)
    squared = per_image_squared_error(images, recon).numpy()
    expected = course_loss(images.double(), recon.double() * 255.0)
    assert course_loss_from_squared_errors(squared) == pytest.approx(expected, rel=1e-12)
    assert course_loss_from_squared_errors(np.stack([squared, squared])) == pytest.approx([expected] * 2)


# -- the report ----------------------------------------------------------------------------------------------------

def study_rows(seeds=range(5), gate_fails=()):
    """normal and uniform at beta 0.002 and 1, the AD at 0.2, seed-blocked: a shared seed effect (sd 0.005) on the
    loss, uniform equal to normal (noise 0.00002: equivalent within 0.0005), the AD 0.002 below (differs), test
    KL 20 nats apart (differs), FD, recognisable and the probe equal up to noise. `class_gmm` fails the no-copy gate
    in the (variant, beta) cells of `gate_fails`. Imputation (beta 0.002 and the AD): uniform's imputed MSE 0.005
    above normal's (differs); normal's 90% intervals cover 0.4 (differs from 0.9), uniform's 0.9 (calibrated)."""
    rng = np.random.default_rng(0)
    rows = []
    for s in seeds:
        shared = rng.normal(0, 0.005)

        def jit(sd):
            return float(rng.normal(0, sd))
        for beta in (0.002, 1.0):
            for variant, dloss, dkl, floor in (("normal", 0.0, 0.0, 0.0), ("uniform", 0.0, 20.0, 17.65)):
                imputed = None if beta != 0.002 else impute_file(
                    mse=0.02 + (0.005 if variant == "uniform" else 0) + jit(0.0001),
                    coverage=(0.9 if variant == "uniform" else 0.4) + jit(0.005))
                rows.append(row(variant, beta, s, loss=0.1 + shared + dloss + jit(0.00002), kl=350 + dkl + jit(0.3),
                                floor=floor, fd=8 + jit(0.05), knn=0.76 + jit(0.002), recognisable=0.75 + jit(0.002),
                                ratio=0.8 if (variant, beta) in gate_fails else 0.95, imputation=imputed))
        rows.append(row("ad", 0.2, s, loss=0.098 + shared + jit(0.00002), fd=8 + jit(0.05), knn=0.76 + jit(0.002),
                        recognisable=0.75 + jit(0.002), imputation=impute_file(mse=0.02 + jit(0.0001))))
    return rows


def study_table(folder, **kw):
    folder.mkdir(parents=True, exist_ok=True)
    study.append_rows(folder / "runs.csv", study_rows(**kw))
    return folder / "runs.csv"


def line_of(text, start):
    return next(ln for ln in text.splitlines() if ln.startswith(start))


def test_the_report_judges_a_hand_made_table_and_lists_missing_runs(tmp_path):
    table = study_table(tmp_path / "t", gate_fails={("normal", 1.0)})
    out = tmp_path / "reports/study.md"
    ablation_rows = tmp_path / "reports/study/uniform_ablation.csv"
    ablation.append_row({"step": 0, "change": ablation.STEPS[0][0], "family": "uniform", "train_epochs": 200,
                         "fit_epochs": 100, "beta": 0.002, "train_course_loss": 0.15, "test_course_loss": 0.17},
                        ablation_rows)
    text = study.write_report(table, study.grid(0.2), out, tmp_path / "reports/study/figures",
                              ablation_table=ablation_rows)
    assert out.read_text() == text and (tmp_path / "reports/study/figures/study.png").read_bytes()[:4] == b"\x89PNG"
    assert "Runs present: 25 of 109 expected." in text and "Missing runs (84)" in text
    assert "`study-laplace-b0.002-s0`" in text and "`study-normal-b0.002-s0`" not in text
    assert "seed rule" not in text and "bootstrap" not in text
    for margin in ("test course_loss 0.00050", "class_gmm FD (gated) 0.50", "test bits/dim 0.0050"):
        assert margin in text  # the margins, from MARGINS
    assert line_of(text, "| normal | 0.002 | 5 | 0.09").endswith("(5) |")  # mean ± std (n seeds)
    assert study.NELBO in text
    loss = text[text.index("### test course_loss"):text.index("### class_gmm FD (gated)")]
    assert line_of(loss, "| normal | uniform | 0.0000").endswith("| **equivalent** | 5 |")
    assert line_of(loss, "| ad (beta 0.2) | normal | 0.00").endswith("| **differs** | 5 |")
    assert "beta 0.002: family effect F(1, 4) = " in loss
    kl = text[text.index("### test KL (nats)"):text.index("### test KL above")]
    assert line_of(kl, "| normal | uniform | 20.").endswith("| **differs** | 5 |")
    assert "### test bits/dim\n\nNot compared: no values in any run yet." in text
    fd = text[text.index("### class_gmm FD (gated)"):text.index("### class_gmm recognisable")]
    # normal fails the gate at beta 1: uniform is left alone there, compared only with the AD
    assert "beta 1: family effect not tested (fewer than two families); 1 pair: " in fd
    assert "| normal | 1 | 5 | 0 | 0 | 5 |" in text  # the gate table: no class_gmm, no prior, a best sampler
    assert "In normal 1 no seed's `class_gmm` samples pass the gate" in text
    assert "- class_gmm_fd_gated: no values for variant normal at {'beta': 1}; left out" in text
    assert line_of(text, "- beta 0.002 (pairs").startswith("- beta 0.002 (pairs of families, and the AD against "
                                                          "each): differ: test course_loss (2 of 3)")
    assert "equivalent: test course_loss (1 of 3)" in line_of(text, "- beta 0.002 (pairs")
    imputed = text[text.index("## Imputation"):text.index("## Notes from the analysis")]
    assert "| normal | 0.002 | 5 | 0.02" in imputed and "| uniform | 1 |" not in imputed  # cells that imputed only
    calib = imputed[imputed.index("half dropped at random:"):imputed.index("bottom half hidden:")]
    assert line_of(calib, "| normal | 0.002 | 0.4").endswith("| **differs** | 5 |")
    assert line_of(calib, "| uniform | 0.002 | 0.").endswith("| **calibrated** | 5 |")
    mse = text[text.index("### imputed pixels' MSE, bottom half hidden"):]
    assert line_of(mse, "| normal | uniform | 0.00").endswith("| **differs** | 5 |")
    assert "## Why the original Uniform failed" in text and "uniform_ablation.csv`](study/uniform_ablation.csv)" in text
    assert "the original recipe" in text and "0.1500" in text


def test_the_report_of_an_empty_table_names_every_missing_run(tmp_path):
    text = study.write_report(tmp_path / "absent.csv", study.grid(0.2), tmp_path / "study.md", tmp_path / "fig",
                              ablation_table=tmp_path / "no_ablation.csv")
    assert "Runs present: 0 of 109 expected." in text and "No runs yet" in text
    assert "Missing runs (109)" in text and all(f"`{r.name}`" in text for r in study.grid(0.2))
    assert not (tmp_path / "fig").exists()


def test_derived_columns_mask_samples_that_fail_the_gate_and_take_off_the_floor(tmp_path):
    df = study.load_table(study_table(tmp_path, seeds=range(2), gate_fails={("uniform", 1.0)}))
    u1, u0 = df[(df.variant == "uniform") & (df.beta == 1.0)], df[(df.variant == "uniform") & (df.beta == 0.002)]
    assert not u1.class_gmm_passes.any() and u1.class_gmm_fd_gated.isna().all()
    assert u1.class_gmm_recognisable_gated.isna().all() and u1.class_gmm_fd.notna().all()
    assert u0.class_gmm_passes.all() and (u0.class_gmm_fd_gated == u0.class_gmm_fd).all()
    assert (u0.test_kl_above_floor == u0.test_kl - 17.65).all()
    ad = df[df.variant == "ad"]
    assert ad.test_kl_above_floor.isna().all() and not ad.prior_passes.any()  # the AD has no prior sampler here
    assert set(study.HEADLINE) <= set(study.MARGINS) and "test_nelbo" not in study.HEADLINE


# -- the answer the report opens with ------------------------------------------------------------------------------

STUDY_COMMAND = "python scripts/study.py seeds report"
BETAS = {"ad": 0.2, "normal": 0.002, "uniform": 0.002}


def answer_json(df, betas, n_samples=5000):
    """reports/study/answer.json's content as the report stage reads it back (through JSON: seeds become strings)."""
    return json.loads(json.dumps(answer_file(df, betas, n_samples, STUDY_COMMAND)))


def test_the_answer_from_the_table_gives_each_pair_its_verdict(tmp_path):
    df = study.load_table(study_table(tmp_path, gate_fails={("normal", 1.0)}))
    encoding, sampling, rate, probe, imputation, across = answer(df, BETAS, 5000)
    assert "at each variant's default KL weight: ad 0.2, normal 0.002, uniform 0.002" in encoding
    assert "`normal` 0.09" in encoding and " (5), `uniform` " in encoding and "seed rule" not in encoding
    assert "family effect F(1, 4) = " in encoding
    assert "uniform − normal 0.0000" in encoding and "equivalent (within ±0.0005)" in encoding
    assert re.search(r"normal − ad 0\.00\d+ \[[^]]+\], Holm p [^:]+: differs", encoding)
    assert sampling.startswith("**Sampling** (`class_gmm`, 5000 draws, only runs whose samples pass the no-copy gate)")
    assert "test KL (nats): `normal` 350." in rate and "uniform − normal 20." in rate and "differs" in rate
    assert "test bits/dim: not measured in these runs" in rate and "`ad`" not in rate.split("bits/dim")[0]
    assert probe.startswith("**Latent structure:** 5-NN probe: `ad` 0.76")
    assert imputation.startswith("**Imputation** (codes fitted on the observed pixels only): imputed pixels' MSE")
    assert re.search(r"uniform − normal 0\.00\d+ \[[^]]+\], Holm p [^:]+: differs", imputation)
    calib = imputation[imputation.index("90% interval coverage against 0.9"):]
    assert re.search(r"random50: normal 0\.\d+ \[[^]]+\] \(differs, n = 5\), uniform 0\.\d+ \[[^]]+\] "
                     r"\(calibrated, n = 5\)", calib), calib
    assert "(0.002 to 1, 20 family runs" in across and "test KL (nats): differ at beta 0.002, 1" in across
    assert "class_gmm FD (gated): " in across and "at beta 0.002" in across.split("class_gmm FD (gated): ")[1]


def test_the_answer_file_holds_the_sentences_and_what_they_describe(tmp_path):
    df = study.load_table(study_table(tmp_path, seeds=range(3)))
    content = answer_json(df, BETAS)
    assert content["command"] == STUDY_COMMAND and content["betas"] == BETAS and content["n_samples"] == 5000
    assert content["sentences"] == answer(df, BETAS, 5000)
    for variant, beta in BETAS.items():
        cell = df[(df.variant == variant) & (df.beta == beta)]
        assert content["test_course_loss"][variant] == pytest.approx(
            {str(s): v for s, v in zip(cell.seed, cell.test_course_loss)})
    one_seed = answer_json(study.load_table(study_table(tmp_path / "one", seeds=(0,))), BETAS)
    assert one_seed["sentences"] is None and set(one_seed["test_course_loss"]["normal"]) == {"0"}


def test_the_answer_needs_two_seeds_at_the_defaults_and_the_report_falls_back_without(tmp_path):
    from vadlib.infra.config import parse_params
    from vadlib.pipeline.report import answer_section

    one_seed = study.load_table(study_table(tmp_path / "one", seeds=(0,)))
    assert answer(one_seed, BETAS, 5000) is None
    three_seeds = study.load_table(study_table(tmp_path / "three", seeds=range(3)))
    assert answer(three_seeds, {"normal": 0.02, "uniform": 0.02}, 5000) is None  # no runs at these betas
    seed0 = {v: float(three_seeds[(three_seeds.variant == v) & (three_seeds.beta == b) & (three_seeds.seed == 0)]
                      .test_course_loss.iloc[0]) for v, b in BETAS.items()}

    def metrics(losses):
        return {n: {"test": {"course_loss": loss, **({} if n == "ad" else {"kl": 350.0, "kl_floor": 0.0})},
                    "samples": {"real": {"recognisable": 0.82},
                                "class_gmm": {"fd": 8.0, "recognisable": 0.75, "nn_train_ratio": 0.95}},
                    "best_sampler": {"name": "class_gmm"},
                    "latent": {"knn_accuracy": 0.76, "active_units": 100, "pixel_knn_accuracy": 0.77}}
                for n, loss in losses.items()}

    cfg = parse_params({"seed": 0, "variants": {n: {"distribution": n, "beta": BETAS[n]} for n in seed0}})
    assert cfg.quality.n_samples == 5000
    study_answer = answer_json(three_seeds, BETAS, cfg.quality.n_samples)
    with_study = answer_section(cfg, metrics(seed0), study_answer)
    bullets = [ln for ln in with_study if ln.startswith("- ")]
    assert with_study[0] == "## Answer" and 3 <= len(bullets) <= 7
    assert bullets[:-1] == [f"- {s}" for s in study_answer["sentences"]]  # the study's sentences, as computed
    assert "Holm p" in bullets[0] and bullets[-1].endswith("[study.md](study.md).")
    assert "show this run alone (seed 0)" in bullets[-1]
    one_run = "not judged: one run (see [reports/study.md](study.md) for the seed-replicated comparison)"
    for other in (answer_json(one_seed, BETAS), None):  # one seed: no sentences; no answer file
        text = "\n".join(answer_section(cfg, metrics(seed0), other))
        assert one_run in text and "differs" not in text and "equivalent" not in text
    # a run the study did not make (another size, changed params: other losses) does not borrow its seeds
    assert one_run in "\n".join(answer_section(cfg, metrics({**seed0, "normal": 0.08}), study_answer))
    # nor does a run with other draws per sampler
    other_draws = parse_params({**cfg.to_dict(), "quality": {**cfg.to_dict()["quality"], "n_samples": 200}})
    assert one_run in "\n".join(answer_section(other_draws, metrics(seed0), study_answer))


def test_the_answer_file_describes_a_run_only_when_it_holds_that_runs_losses(tmp_path):
    df = study.load_table(study_table(tmp_path, seeds=range(3)))
    betas = {"ad": 0.2, "normal": 0.002}
    content = answer_json(df, betas)
    own = {v: content["test_course_loss"][v]["0"] for v in betas}
    assert describes(content, betas, 0, 5000, own)
    assert describes(content, betas, 0, 5000, {**own, "normal": own["normal"] * 1.002})  # another CPU: 4th digit
    assert not describes(content, betas, 0, 5000, {**own, "normal": own["normal"] * 0.98})  # 2% off
    assert describes(content, betas, 1, 5000, {v: content["test_course_loss"][v]["1"] for v in betas})  # its seed
    assert not describes(content, betas, 3, 5000, own)  # a seed the study did not run
    assert not describes(content, betas, 0, 50, own)  # other draws per sampler
    assert not describes(content, {"ad": 0.2, "normal": 0.02}, 0, 5000, own)  # another KL weight
    with_laplace = {**betas, "laplace": 0.002}
    assert not describes(content, with_laplace, 0, 5000, {**own, "laplace": 0.099})  # another set of variants
    # the study made no laplace run: an answer file for these weights holds no laplace losses
    assert not describes(answer_json(df, with_laplace), with_laplace, 0, 5000, {**own, "laplace": 0.099})
    assert not describes({**content, "sentences": None}, betas, 0, 5000, own)  # the table could not answer
    assert not describes({}, betas, 0, 5000, own) and not describes(None, betas, 0, 5000, own)
    assert describes(content, {"ad": 0.2, "normal": 2e-3}, 0, 5000, own)  # beta written differently: same weight


def test_the_script_refuses_bad_input_clearly(tmp_path):
    """Run in a fresh git repository holding the project's params, so that experiments of the working copy (which
    `queue` skips) cannot change what it prints."""
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "params.yaml").write_text((ROOT / "params.yaml").read_text())

    def script(*args):
        return subprocess.run([sys.executable, str(ROOT / "scripts/study.py"), *args], cwd=repo, capture_output=True,
                              text=True)

    out = script("seeds", "queue", "--jobs", "0")
    assert out.returncode == 2 and "--jobs: got 0" in out.stderr
    out = script("seeds", "queue", "--dry-run", "--only", "nothing", "--table", str(tmp_path / "t.csv"))
    assert out.returncode == 2 and "matches no run" in out.stderr
    out = script("seeds", "queue", "--dry-run", "--only", "study-laplace-b1-*", "--table", str(tmp_path / "t.csv"))
    assert out.returncode == 0, out.stderr
    assert ("dvc exp run --queue -n study-laplace-b1-s2 -S seed=2 -S variants.laplace.beta=1 evaluate@laplace "
            "impute@laplace"
            in out.stdout) and "10 to queue" in out.stdout


# -- the negative ELBO ---------------------------------------------------------------------------------------------

class Affine(nn.Module):
    """Every pixel = offset + slope * z[0] (before the clamp to [0, 1]); z's other dimensions are ignored."""

    def __init__(self, offset, slope):
        super().__init__()
        self.offset, self.slope = nn.Parameter(torch.tensor(offset)), nn.Parameter(torch.tensor(slope))

    def forward(self, z):
        return (self.offset + self.slope * z[:, :1]).repeat(1, 784).reshape(-1, 1, 28, 28)


def test_the_negative_elbo_of_a_constant_decoder_by_hand():
    x = torch.tensor([[0] * 784, [255] * 784, [51] * 784], dtype=torch.uint8).view(3, 28, 28)
    params = torch.tensor([[0.5, 0.0, math.log(0.5), 0.0]]).repeat(3, 1)  # mu (0.5, 0), sigma (0.5, 1)
    out = negative_elbo(Affine(0.3, 0.0), get_distribution("normal"), params, x, sigma2=0.04, n_draws=3, seed=0)
    sq = torch.tensor([0.09, 0.49, 0.01]) * 784  # (x - 0.3)^2 summed over pixels
    rec = 0.5 * 784 * math.log(2 * math.pi * 0.04) + sq / (2 * 0.04)
    kl = (0.5 * (0.25 + 0.25 - 1) - math.log(0.5)) + 0.0  # dimension 2 is N(0, 1): KL 0
    assert out["rec_nll"] == pytest.approx(rec.double(), rel=1e-6)
    assert out["kl"] == pytest.approx(torch.full((3,), kl, dtype=torch.float64), rel=1e-6)
    assert out["nelbo"] == pytest.approx(out["rec_nll"] + kl)
    ad = negative_elbo(Affine(0.3, 0.0), get_distribution("ad"), params[:, :2], x, 0.04, 3, 0)
    assert set(ad) == {"rec_nll"} and ad["rec_nll"] == pytest.approx(rec.double(), rel=1e-6)
    with pytest.raises(ValueError, match="sigma2"):
        gaussian_nll(sq, 784, 0.0)


def test_the_negative_elbo_averages_draws_of_q_and_leaves_the_global_rng_alone():
    """A decoder linear in z[0], f(mu) = x (so no cross term): E||x - f(z)||^2 = 784 slope^2 var(z0), var = h^2 / 3."""
    x = torch.full((2, 28, 28), 153, dtype=torch.uint8)  # 0.6
    dist = get_distribution("uniform")
    params = torch.tensor([[0.0, math.log(0.5)], [0.0, math.log(0.2)]])  # centre 0, half-width h 0.5 and 0.2
    torch.manual_seed(123)
    state = torch.get_rng_state()
    out = negative_elbo(Affine(0.6, 0.1), dist, params, x, 0.01, n_draws=4000, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    sq = torch.tensor([784 * 0.01 * 0.25 / 3, 784 * 0.01 * 0.04 / 3], dtype=torch.float64)
    expected = 0.5 * 784 * math.log(2 * math.pi * 0.01) + sq / 0.02
    assert out["rec_nll"] == pytest.approx(expected, abs=2.0)  # Monte Carlo sd ~0.5 and ~0.1 nats
    assert out["kl"] == pytest.approx(dist.kl(params).double())
    again = negative_elbo(Affine(0.6, 0.1), dist, params, x, 0.01, n_draws=4000, seed=7)
    assert torch.equal(again["rec_nll"], out["rec_nll"])


class LinearDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Linear(8, 784)

    def forward(self, z):
        return torch.sigmoid(self.lin(z)).view(-1, 1, 28, 28)


def test_the_likelihood_keys_are_new_and_leave_every_other_metric_unchanged(monkeypatch):
    cfg = tiny_config(quality={"n_samples": 20, "nearest_k": 3}, samplers={"gmm_components": 2},
                      evaluate={"likelihood_images": 10, "likelihood_samples": 100})
    train, test, held = tiny_data(40, 0), tiny_data(30, 2), tiny_data(30, 1)
    dist = get_distribution("normal")
    gen = torch.Generator().manual_seed(0)
    trained = SimpleNamespace(decoder=LinearDecoder(), dist=dist, train_params=dist.init(40, 8, 1.0, 0.1, gen),
                              labels=train["labels"])
    fitted = {"test": dist.init(30, 8, 1.0, 0.1, gen)}
    per_image = {}
    full = evaluate_mod.evaluate_variant(trained, fitted, train, test, held["images"], StandIn(), cfg, "normal",
                                         per_image)
    monkeypatch.setattr(evaluate_mod, "likelihood_on_test", lambda *a, **k: ({}, {}))
    monkeypatch.setattr(evaluate_mod, "importance_likelihood", lambda *a, **k: ({}, torch.empty(0)))
    plain = evaluate_mod.evaluate_variant(trained, fitted, train, test, held["images"], StandIn(), cfg, "normal")
    new = {k: full["test"].pop(k) for k in ("nelbo_sigma", "nelbo_rec", "nelbo", "bits_per_dim", "log_px",
                                            "likelihood")}
    assert full == plain
    assert 0 < new["bits_per_dim"] < 8 and new["likelihood"]["images"] == cfg.evaluate.likelihood_images
    assert new["log_px"] == pytest.approx(np.mean(per_image["log_px"][:cfg.evaluate.likelihood_images]))
    assert per_image["log_px"][cfg.evaluate.likelihood_images:] == [None] * (30 - cfg.evaluate.likelihood_images)
    assert new["nelbo_sigma"] == pytest.approx(math.sqrt(full["train"]["mse"]))
    assert new["nelbo"] == pytest.approx(new["nelbo_rec"] + full["test"]["kl"])
    assert list(per_image) == list(evaluate_mod.PER_IMAGE_COLUMNS) and len(per_image["squared_error"]) == 30
    assert np.mean(per_image["squared_error"]) / 784 == pytest.approx(full["test"]["mse"])
    assert np.mean(per_image["kl"]) == pytest.approx(full["test"]["kl"])


# -- end to end: one queued run of the real dvc.yaml, collected ----------------------------------------------------

def _run(cmd, cwd, env):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_queue_runs_one_variant_as_an_experiment_and_collect_adds_it_once(tmp_path):
    from idx_fixtures import write_fashion_idx

    repo = tmp_path / "project"
    shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(
        ".venv", ".git", "data", "models", "checkpoints", "dvc_plots", "__pycache__", ".pytest_cache", "*.egg-info",
        "dvc.lock", "reports", "metrics", "plots", "tmp", "cache", ".gpudata", ".whl"))
    (repo / "reports").mkdir()
    raw = tmp_path / "raw"
    write_fashion_idx(raw, n_train=300, n_test=30)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"].update(root=str(raw), verify_md5=False, download=False, n_train=40, n_test=20, n_val=5)
    params["model"]["latent_dim"] = 8
    params["train"].update(epochs=2, batch_size=16)
    params["fit"].update(epochs=2, batch_size=16)
    params["evaluator"].update(epochs=1, n_val=100)
    params["quality"].update(n_samples=20)
    params["evaluate"].update(likelihood_images=5, likelihood_samples=50)
    params["impute"].update(n_images=6, samples=4)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "DVC_NO_ANALYTICS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VADLIB_DATA_ROOT", None)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init"]):
        _run(cmd, repo, env)
    script = [sys.executable, "scripts/study.py", "seeds"]
    out = _run([*script, "queue", "--jobs", "1", "--only", "study-uniform-b0.2-s1"], repo, env)
    assert "1 rows added" in out, out
    df = study.load_table(repo / study.TABLE)
    assert df.run.tolist() == ["study-uniform-b0.2-s1"] and df.seed.tolist() == [1] and df.beta.tolist() == [0.2]
    assert df.family.tolist() == ["uniform"] and df.test_kl.iloc[0] > 0 and df.test_nelbo.iloc[0] == pytest.approx(
        df.test_nelbo_rec.iloc[0] + df.test_kl.iloc[0])
    assert df.seconds.iloc[0] > 0 and df.machine.iloc[0].startswith("cpu") and df.cpu.iloc[0]
    lock = yaml.safe_load(_run(["git", "show", f"{df.experiment.iloc[0]}:dvc.lock"], repo, env))
    evaluator_out = next(o for o in lock["stages"]["evaluator"]["outs"] if o["path"] == "models/evaluator.pt")
    assert df.evaluator_md5.iloc[0] == evaluator_out["md5"]  # the instrument each row was measured with
    rev = df.experiment.iloc[0]
    shown = _run(["git", "show", f"{rev}:metrics/variants/uniform.json"], repo, env)
    assert json.loads(shown)["test"]["course_loss"] == df.test_course_loss.iloc[0]
    tree = _run(["git", "ls-tree", "-r", "--name-only", rev], repo, env)
    assert "metrics/variants/uniform.json" in tree and "metrics/variants/normal.json" not in tree  # target only
    imputed = json.loads(_run(["git", "show", f"{rev}:metrics/impute/uniform.json"], repo, env))
    assert df.impute_bottom_mse.iloc[0] == imputed["conditions"]["bottom_half"]["missing"]["mse"] > 0
    assert 0 <= df.impute_random50_coverage_90.iloc[0] <= 1  # a VAD: its completions' coverage is in the row
    per_image = (repo / study.PER_IMAGE_DIR / "study-uniform-b0.2-s1.csv").read_text().splitlines()
    assert per_image[0] == "image,label,squared_error,kl,rec_nll,nelbo,log_px" and len(per_image) == 21
    assert df.test_bits_per_dim.iloc[0] > 0 and df.test_kl_floor.iloc[0] == pytest.approx(8 * 0.1764852, rel=1e-5)
    assert "0 rows added, 0 already present" in _run([*script, "collect"], repo, env)  # resumable: nothing twice
    out = _run([*script, "queue", "--dry-run", "--only", "study-uniform-b0.2-*"], repo, env)
    assert "9 to queue" in out and "-n study-uniform-b0.2-s1 " not in out
    _run([*script, "report"], repo, env)
    text = (repo / "reports/study.md").read_text()
    assert "Runs present: 1 of 109 expected." in text and "| uniform | 0.2 | 1 |" in text


def test_dvc_calls_put_this_environments_bin_first_on_path(monkeypatch):
    """`dvc queue start` spawns workers that call a bare `dvc`: from `.venv/bin/python scripts/study.py` without an
    activated environment they must still find this environment's DVC, or the queue waits on dead workers."""
    from vadlib.infra import experiments

    seen = {}

    def fake_run(cmd, **kw):
        seen.update(cmd=cmd, env=kw["env"])
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(experiments.subprocess, "run", fake_run)
    monkeypatch.setenv("PATH", "/usr/bin")
    experiments.dvc("queue", "status")
    assert seen["env"]["PATH"].split(os.pathsep) == [str(Path(sys.executable).parent), "/usr/bin"]
    assert seen["env"]["DVC_NO_ANALYTICS"] == "1" and seen["cmd"][1:] == ["queue", "status"]


def test_the_readme_block_reports_imputation_at_the_default(tmp_path):
    from vadlib.studies import findings

    df = study.load_table(study_table(tmp_path))
    text = re.sub(r"\s+", " ", " ".join(findings.glance(df, BETAS, ablation_table=tmp_path / "none.csv")))
    bullet = text[text.index("**Imputation at the default**"):text.index("**The no-copy gate.**")]
    assert "imputed pixels' MSE, bottom half hidden `ad` 0.020" in bullet and "`uniform` 0.0249" in bullet
    assert "families 1 pair: 1 differs" in bullet
    assert "6 cells x conditions: 3 differ from 0.9, 3 calibrated (means 0.40-0.90)" in bullet, bullet
    blank = df.assign(**{c: float("nan") for c in study.IMPUTE_COLUMNS})
    text = " ".join(findings.glance(blank, BETAS, ablation_table=tmp_path / "none.csv"))
    assert "no study run has imputation figures yet" in re.sub(r"\s+", " ", text)
