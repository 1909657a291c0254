"""The latent-distribution study: its table, its statistics (known answers), its report, the test negative ELBO, and
(slow) one queued run of the real dvc.yaml on a tiny project, collected into the table."""
import json
import math
import os
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
from vadlib.measure.comparisons import paired_bootstrap, seed_rule, std_upper_factor
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

def metrics_file(loss=0.1, kl=350.0, fd=8.0, point=False):
    test = {"course_loss": loss, "mse": 0.01, "psnr": 20.0}
    if not point:
        test.update(kl=kl, nelbo=kl - 900.0, nelbo_rec=-900.0, nelbo_sigma=0.1)
    return {"variant": "x", "distribution": "ad" if point else "normal", "test": test,
            "latent": {"knn_accuracy": 0.76, "logreg_accuracy": 0.8, "active_units": 100},
            "samples": {"class_gmm": {"fd": fd, "recognisable": 0.75, "precision": 0.7, "recall": 0.6,
                                      "density": 0.9, "coverage": 0.8}},
            "best_sampler": {"name": "class_gmm"}}


SECONDS = {"train": {"train_seconds": 200.0, "device": "cpu (2 threads)"},
           "fit": {"fit_seconds": 60.5, "device": "cpu (2 threads)"},
           "evaluate": {"evaluate_seconds": 40.25, "device": "cpu (2 threads)"}}


def row(variant="normal", beta=0.002, seed=0, **kw):
    run = study.Run(variant, beta, seed)
    return study.row_from_metrics(run, metrics_file(point=variant == "ad", **kw), SECONDS, "a" * 40, "b" * 40)


def test_a_row_carries_every_judged_figure():
    r = row(loss=0.099, fd=8.1)
    assert r["run"] == "study-normal-b0.002-s0" and r["family"] == "normal" and r["best_sampler"] == "class_gmm"
    assert r["test_course_loss"] == 0.099 and r["best_fd"] == 8.1 and r["test_kl"] == 350.0
    assert r["test_nelbo"] == -550.0 and r["best_coverage"] == 0.8 and r["logreg_accuracy"] == 0.8
    assert r["seconds"] == 300.75 and r["machine"] == "cpu (2 threads)"
    assert r["class_gmm_fd"] == 8.1 and r["class_gmm_recognisable"] == 0.75 and r["prior_fd"] is None
    ad = row("ad", 0.2)
    assert ad["test_kl"] is None and ad["test_nelbo"] is None
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

def test_the_seed_rule_against_a_hand_computed_threshold():
    # chi-square with 2 degrees of freedom: ppf(0.05) = -2 ln 0.95, so U = std * sqrt(2 / (-2 ln 0.95))
    factor = math.sqrt(1 / -math.log(0.95))  # 4.4154
    a = [1.0, 2.0, 3.0]  # std 1
    assert seed_rule(a, [x + 13.0 for x in a]) == pytest.approx(
        {"diff": 13.0, "threshold": 3 * factor, "real": False})
    assert seed_rule(a, [x + 14.0 for x in a])["real"] is True
    assert seed_rule(a, [x - 14.0 for x in a])["real"] is True  # either sign
    wide = seed_rule(a, [10.0, 20.0, 30.0])  # the larger std (10) sets the bar
    assert wide["threshold"] == pytest.approx(30 * factor) and wide["real"] is False
    assert seed_rule([1.0], [5.0, 6.0]) == {"diff": 4.5, "threshold": None, "real": None}
    with pytest.raises(VadlibError, match="finite"):
        seed_rule([], [1.0])


def test_the_paired_bootstrap_of_a_constant_difference_is_that_constant():
    a = np.random.default_rng(1).normal(100, 30, 1000)  # images differ a lot; the pairing removes that
    r = paired_bootstrap(a, a + 0.25, n_boot=2000)
    assert r["diff"] == pytest.approx(0.25) and r["lo"] == pytest.approx(0.25) and r["hi"] == pytest.approx(0.25)
    assert r["excludes_zero"] and r["n"] == 1000


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


def test_the_paired_bootstrap_takes_a_statistic_over_the_same_resample():
    """B's errors are A's times 4: course_loss (a square root of summed errors) doubles on every resample, so each
    resampled difference is A's own course_loss on that resample: the interval lies around the full-set value c."""
    a = np.random.default_rng(2).gamma(2.0, 10.0, 1000)
    r = paired_bootstrap(a, 4 * a, n_boot=500, statistic=course_loss_from_squared_errors)
    c = course_loss_from_squared_errors(a)
    assert r["diff"] == pytest.approx(c) and r["excludes_zero"]
    assert c * 0.9 < r["lo"] <= r["hi"] < c * 1.1


def test_the_paired_bootstrap_of_a_symmetric_difference_straddles_zero():
    a = np.zeros(1000)
    b = np.tile([1.0, -1.0], 500)  # mean 0, sd 1: the mean's sd is 1/sqrt(1000) = 0.0316
    r = paired_bootstrap(a, b, n_boot=4000, seed=3)
    assert r["diff"] == 0 and not r["excludes_zero"]
    assert r["lo"] == pytest.approx(-1.96 / math.sqrt(1000), rel=0.1)
    assert r["hi"] == pytest.approx(1.96 / math.sqrt(1000), rel=0.1)
    assert paired_bootstrap(a, b, n_boot=4000, seed=3) == r  # seeded
    assert paired_bootstrap(a, b, n_boot=4000, seed=4) != r
    assert paired_bootstrap(b, a, n_boot=4000, seed=3)["lo"] == pytest.approx(-r["hi"])  # sign flips
    with pytest.raises(VadlibError, match="equal-length"):
        paired_bootstrap(a, b[:10])
    with pytest.raises(VadlibError, match="NaN"):
        paired_bootstrap(a, np.full(1000, np.nan))


# -- the report ----------------------------------------------------------------------------------------------------

def hand_table(tmp_path):
    """normal and uniform at beta 0.02 (3 seeds; uniform's loss far above), laplace with one seed, the AD with two;
    per-image files for seed 0 where uniform is exactly 1.0 worse on every image."""
    path, per_image = tmp_path / "runs.csv", tmp_path / "per_image"
    rows = []
    for s, noise in enumerate([-0.001, 0.0, 0.001]):
        rows += [row("normal", 0.02, s, loss=0.100 + noise), row("uniform", 0.02, s, loss=0.200 + noise)]
    rows += [row("laplace", 0.02, 0, loss=0.1), row("ad", 0.2, 0, loss=0.09), row("ad", 0.2, 1, loss=0.091)]
    study.append_rows(path, rows)
    errors = np.random.default_rng(0).uniform(10, 30, 50)
    for name, shift in (("study-normal-b0.02-s0", 0.0), ("study-uniform-b0.02-s0", 1.0)):
        per_image.mkdir(exist_ok=True)
        lines = ["image,label,squared_error,kl,rec_nll,nelbo"] + [f"{i},{i % 10},{float(e + shift)!r},,," for i, e in
                                                                  enumerate(errors)]
        (per_image / f"{name}.csv").write_text("\n".join(lines) + "\n")
    return path, per_image


def test_the_report_judges_a_hand_made_table_and_lists_missing_runs(tmp_path):
    table, per_image = hand_table(tmp_path)
    out = tmp_path / "reports/study.md"
    ablation_rows = tmp_path / "reports/study/uniform_ablation.csv"
    ablation.append_row({"step": 0, "change": ablation.STEPS[0][0], "family": "uniform", "train_epochs": 200,
                         "fit_epochs": 100, "train_course_loss": 0.15, "test_course_loss": 0.17}, ablation_rows)
    text = study.write_report(table, study.grid(0.2), out, tmp_path / "reports/study/figures", per_image, n_boot=500,
                              ablation_table=ablation_rows)
    assert out.read_text() == text and (tmp_path / "reports/study/figures/study.png").read_bytes()[:4] == b"\x89PNG"
    assert "Runs present: 9 of 109 expected." in text and "Missing runs (100)" in text
    assert "`study-normal-b0.002-s0`" in text and "`study-normal-b0.02-s0`" not in text
    assert "| normal | 0.02 | 3 | 0.1 ± 0.001 |" in text
    assert "| normal | 0.02 | 8 ± 0 | 0.7 ± 0 | 0.6 ± 0 | 0.9 ± 0 | 0.8 ± 0 | 0.8 ± 0 |" in text  # FD, PRDC, probe
    assert "| laplace | 0.02 | 8 ± – |" in text  # one seed: no std
    assert "| ad | 0.2 | s0: class_gmm 8, s1: class_gmm 8 |" in text  # the best sampler per seed
    assert "| test course_loss | normal b0.02 | uniform b0.02 | 0.1 |" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("| test course_loss | normal b0.02 | uniform b0.02"))
    assert line.endswith("| **real** |")
    assert "| test course_loss | normal b0.02 | laplace b0.02 | 0 | – | undetermined (< 2 seeds) |" in text
    # the paired bootstrap of a constant shift of 1 per image: MSE up by exactly 1/784, course_loss up on every
    # resample
    assert "| 0.02 | 0 | normal | uniform | test MSE | 0.001276 | [0.001276, 0.001276] | yes |" in text
    course = next(ln for ln in text.splitlines() if ln.startswith("| 0.02 | 0 | normal | uniform | test course_loss"))
    assert course.endswith("| yes |")
    assert "## Why the original Uniform failed" in text and "uniform_ablation.csv`](study/uniform_ablation.csv)" in text
    assert "| 0 | the original recipe | 200 / 100 | 0.1500 | 0.1700 | — | — |" in text
    assert "| — | the original report | ~750 / ~500 | 0.1457 | 0.1644 | 0.0186 | 0.1112 |" in text
    assert "- beta 0.02: real differences between families: test course_loss (normal vs uniform: 0.1)" in text


def test_the_report_of_an_empty_table_names_every_missing_run(tmp_path):
    text = study.write_report(tmp_path / "absent.csv", study.grid(0.2), tmp_path / "study.md", tmp_path / "fig",
                              tmp_path / "pi", ablation_table=tmp_path / "no_ablation.csv")
    assert "Runs present: 0 of 109 expected." in text and "No runs yet" in text
    assert "Missing runs (109)" in text and all(f"`{r.name}`" in text for r in study.grid(0.2))
    assert not (tmp_path / "fig").exists()


# -- the answer the report opens with ------------------------------------------------------------------------------

def answer_table(folder, seeds=(0, 1, 2)):
    """normal and uniform at beta 0.002 and 1, the AD at 0.2: losses 0.0005 apart with seed std 0.001 (bar
    3 x 4.42 x 0.001 = 0.013: not real); test KL 20 nats apart with seed std 1 (bar 13: real) at both betas; FD, the
    recognisable rate and the probe equal everywhere."""
    rows = []
    for s in seeds:
        noise = (-1, 0, 1)[s]
        for beta, kl_normal, kl_uniform, loss in ((0.002, 350, 370, 0.1), (1.0, 8, 28, 0.17)):
            rows += [row("normal", beta, s, loss=loss + noise / 1000, kl=kl_normal + noise),
                     row("uniform", beta, s, loss=loss + 0.0005 + noise / 1000, kl=kl_uniform + noise)]
        rows.append(row("ad", 0.2, s, loss=0.098 + noise / 1000))
    folder.mkdir(parents=True, exist_ok=True)
    study.append_rows(folder / "runs.csv", rows)
    return study.load_table(folder / "runs.csv")


STUDY_COMMAND = "python scripts/study.py seeds report"


def answer_json(df, betas, n_samples=5000):
    """reports/study/answer.json's content as the report stage reads it back (through JSON: seeds become strings)."""
    return json.loads(json.dumps(answer_file(df, betas, n_samples, STUDY_COMMAND)))


def test_the_answer_from_the_table_judges_every_pair_by_the_seed_rule(tmp_path):
    lines = answer(answer_table(tmp_path), {"ad": 0.2, "normal": 0.002, "uniform": 0.002}, 5000)
    encoding, sampling, rate, probe, across = lines
    assert "seeds 0, 1, 2" in encoding
    assert "`ad` 0.098 ± 0.001, `normal` 0.1 ± 0.001, `uniform` 0.1005 ± 0.001: no pair differs" in encoding
    assert f"bar {3 * 0.001 * std_upper_factor(3):.2g}" in encoding
    assert sampling.startswith("**Sampling** (`class_gmm`, 5000 draws): FD `ad` 8 ± 0, `normal` 8 ± 0, `uniform` 8 ± 0: "
                               "no pair differs")
    assert "test KL (nats) `normal` 350 ± 1, `uniform` 370 ± 1: real by the seed rule: uniform − normal 20 (bar 13)" \
        in rate  # the AD has no KL, so one pair
    assert probe.startswith("**Latent structure**") and "no pair differs" in probe
    assert "(0.002 to 1, 12 family runs)" in across and "test course_loss goes from 0.1-0.101 to 0.17-0.171" in across
    assert "differ by the seed rule in test KL (nats) at beta 0.002, 1" in across
    assert "; in test negative ELBO (nats) at beta 0.002, 1" in across
    assert "; in test course_loss, class_gmm FD, class_gmm recognisable, 5-NN probe at no beta." in across


def test_the_answer_file_holds_the_sentences_and_what_they_describe(tmp_path):
    df = answer_table(tmp_path)
    betas = {"ad": 0.2, "normal": 0.002, "uniform": 0.002}
    content = answer_json(df, betas)
    assert content["command"] == STUDY_COMMAND and content["betas"] == betas and content["n_samples"] == 5000
    assert content["sentences"] == answer(df, betas, 5000)
    assert content["test_course_loss"]["normal"] == pytest.approx({"0": 0.099, "1": 0.1, "2": 0.101})
    assert content["test_course_loss"]["ad"] == pytest.approx({"0": 0.097, "1": 0.098, "2": 0.099})
    assert content["test_course_loss"]["uniform"] == pytest.approx({"0": 0.0995, "1": 0.1005, "2": 0.1015})
    one_seed = answer_json(answer_table(tmp_path / "one", seeds=(0,)), betas)
    assert one_seed["sentences"] is None and one_seed["test_course_loss"]["normal"] == pytest.approx({"0": 0.099})


def test_the_answer_needs_two_seeds_at_the_defaults_and_the_report_falls_back_without(tmp_path):
    from vadlib.infra.config import parse_params
    from vadlib.pipeline.report import answer_section

    betas = {"ad": 0.2, "normal": 0.002, "uniform": 0.002}
    one_seed = answer_table(tmp_path / "one", seeds=(0,))
    assert answer(one_seed, betas, 5000) is None
    three_seeds = answer_table(tmp_path / "three")
    assert answer(three_seeds, {"normal": 0.02, "uniform": 0.02}, 5000) is None  # no runs at these betas
    seed0 = {"ad": 0.097, "normal": 0.099, "uniform": 0.0995}  # the table's seed-0 test losses

    def metrics(losses):
        return {n: {"test": {"course_loss": loss, **({} if n == "ad" else {"kl": 350.0})},
                    "samples": {"real": {"recognisable": 0.82}}, "best_sampler": {"name": "none"},
                    "latent": {"knn_accuracy": 0.76, "active_units": 100, "pixel_knn_accuracy": 0.77}}
                for n, loss in losses.items()}

    cfg = parse_params({"seed": 0, "variants": {n: {"distribution": n, "beta": betas[n]} for n in seed0}})
    assert cfg.quality.n_samples == 5000
    study_answer = answer_json(three_seeds, betas, cfg.quality.n_samples)
    with_study = answer_section(cfg, metrics(seed0), None, study_answer)
    bullets = [ln for ln in with_study if ln.startswith("- ")]
    assert with_study[0] == "## Answer" and 3 <= len(bullets) <= 6
    assert bullets[:-1] == [f"- {s}" for s in study_answer["sentences"]]  # the study's sentences, as computed
    assert "seed rule" in bullets[0] and bullets[-1].endswith("[study.md](study.md).")
    assert "show this run alone (seed 0)" in bullets[-1]
    for other in (answer_json(one_seed, betas),  # one seed: no std, no sentences
                  None):  # no answer file
        assert "its seed noise is not measured" in "\n".join(answer_section(cfg, metrics(seed0), None, other))
    # a run the study did not make (another size, changed params: other losses) does not borrow its seeds
    elsewhere = answer_section(cfg, metrics({**seed0, "normal": 0.08}), None, study_answer)
    assert "its seed noise is not measured" in "\n".join(elsewhere)
    # nor does a run with other draws per sampler
    other_draws = parse_params({**cfg.to_dict(), "quality": {**cfg.to_dict()["quality"], "n_samples": 200}})
    assert "its seed noise is not measured" in "\n".join(answer_section(other_draws, metrics(seed0), None,
                                                                          study_answer))


def test_the_answer_file_describes_a_run_only_when_it_holds_that_runs_losses(tmp_path):
    df = answer_table(tmp_path)
    betas = {"ad": 0.2, "normal": 0.002}
    content = answer_json(df, betas)
    own = {"ad": 0.097, "normal": 0.099}
    assert describes(content, betas, 0, 5000, own)
    assert describes(content, betas, 0, 5000, {"ad": 0.097, "normal": 0.0992})  # another CPU: the 4th digit moves
    assert not describes(content, betas, 0, 5000, {"ad": 0.097, "normal": 0.097})  # 2% off: not this configuration
    assert not describes(content, betas, 1, 5000, own)  # seed 1's losses differ
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
    assert ("dvc exp run --queue -n study-laplace-b1-s2 -S seed=2 -S variants.laplace.beta=1 evaluate@laplace"
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
    cfg = tiny_config(quality={"n_samples": 20, "nearest_k": 3}, samplers={"gmm_components": 2})
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
    plain = evaluate_mod.evaluate_variant(trained, fitted, train, test, held["images"], StandIn(), cfg, "normal")
    new = {k: full["test"].pop(k) for k in ("nelbo_sigma", "nelbo_rec", "nelbo")}
    assert full == plain
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
    per_image = (repo / study.PER_IMAGE_DIR / "study-uniform-b0.2-s1.csv").read_text().splitlines()
    assert per_image[0] == "image,label,squared_error,kl,rec_nll,nelbo" and len(per_image) == 21
    assert "0 rows added, 0 already present" in _run([*script, "collect"], repo, env)  # resumable: nothing twice
    out = _run([*script, "queue", "--dry-run", "--only", "study-uniform-b0.2-*"], repo, env)
    assert "9 to queue" in out and "-n study-uniform-b0.2-s1 " not in out
    _run([*script, "report"], repo, env)
    text = (repo / "reports/study.md").read_text()
    assert "Runs present: 1 of 39 expected." in text and "| uniform | 0.2 | 1 |" in text


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
