"""The Uniform ablation (vadlib/workflows/ablation.py): its steps, its resumable table, its markdown, a divergence."""
import pytest
import yaml

from vadlib.infra.errors import DivergenceError, VadlibError
from vadlib.studies import ablation
from vadlib.studies.ablation import COURSE_RECIPE, STEPS, Setting

from helpers import ROOT


def test_step_zero_is_the_original_recipe_and_the_last_is_todays_default():
    assert ablation.overrides(0, "uniform") == COURSE_RECIPE
    assert ablation.overrides(len(STEPS) - 1, "uniform") == {}
    assert "variants.uniform.distribution" not in ablation.overrides(0, "normal")


def test_each_step_restores_only_its_own_keys():
    for step in range(1, len(STEPS)):
        before, after = ablation.overrides(step - 1, "uniform"), ablation.overrides(step, "uniform")
        assert set(before) - set(after) == set(STEPS[step][1])


def test_a_step_that_changes_nothing_for_normal_is_not_rerun():
    runs = {(s.step, s.family) for s in ablation.settings()}
    assert (2, "normal") not in runs and (2, "uniform") in runs and (1, "normal") in runs
    assert len(runs) == 2 * len(STEPS) - 1


def test_every_step_is_a_valid_config_and_step_zero_uses_raw_bounds():
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    for s in ablation.settings(train_epochs=3, fit_epochs=2):
        cfg = ablation.config_for(raw, s)
        assert (cfg.train.epochs, cfg.fit.epochs) == (3, 2)
    first = ablation.config_for(raw, Setting(0, "uniform", ablation.overrides(0, "uniform")))
    assert first.variant("uniform").distribution == "uniform_ab"
    assert (first.train.lr_decoder, first.train.lr_latent, first.train.weight_decay) == (0.01, 0.01, 0.0)
    assert (first.train.latent_optimizer, first.fit.optimizer) == ("adam", "adam")  # the original's dense Adam
    last = ablation.config_for(raw, Setting(len(STEPS) - 1, "uniform", {}))
    assert last.variant("uniform").distribution == "uniform" and last.train.latent_optimizer == "sparse_adam"
    at_one = ablation.config_for(raw, Setting(0, "uniform", ablation.overrides(0, "uniform", beta=1.0)))
    assert at_one.variant("uniform").beta == 1.0 and at_one.variant("normal").beta == first.variant("normal").beta


def row(step, family, train="0.1", test="0.2", note="", beta="0.002"):
    return {"step": step, "change": STEPS[step][0], "family": family, "train_epochs": 200, "fit_epochs": 100,
            "beta": beta, "train_course_loss": train, "test_course_loss": test, "seconds": 1.0, "note": note, "machine": "cpu",
            "commit": "abc"}


def test_table_appends_rows_keeps_old_ones_and_refuses_a_foreign_header(tmp_path):
    path = tmp_path / "t.csv"
    ablation.append_row(row(0, "uniform"), path)
    ablation.append_row(row(0, "normal"), path)
    ablation.append_row(row(0, "uniform", beta="1"), path)
    assert [ablation.row_key(r) for r in ablation.read_rows(path)] == [(0, "uniform", 200, 100, "0.002"),
                                                                       (0, "normal", 200, 100, "0.002"),
                                                                       (0, "uniform", 200, 100, "1")]
    path.write_text("a,b\n1,2\n")
    with pytest.raises(VadlibError, match="header"):
        ablation.read_rows(path)


def test_markdown_marks_skipped_steps_pending_runs_and_divergences():
    rows = [row(0, "uniform", "0.146", "0.164"), row(0, "normal", "0.02", "0.11"),
            row(2, "uniform", note="diverged: loss NaN")]
    lines = ablation.markdown(rows, {"uniform": ("0.1457", "0.1644"), "normal": ("0.019", "0.111")})
    assert lines[2].startswith("| — | the original report | ~750 / ~500, - | 0.1457 | 0.1644 | 0.019 | 0.111 |")
    assert "| 0 | the original recipe | 200 / 100, 0.002 | 0.1460 | 0.1640 | 0.0200 | 0.1100 |" in lines
    step2 = next(line for line in lines if line.startswith("| 2 |"))
    assert "diverged: loss NaN" in step2 and step2.endswith("| as above | as above |")
    assert not any(line.startswith("| 1 |") for line in lines)  # nothing of step 1 yet: listed below the table
    assert lines[-1] == ("Not run yet: step 1 at 200 / 100, beta 0.002, 3 at 200 / 100, beta 0.002, 4 at 200 / 100, "
                         "beta 0.002, 5 at 200 / 100, beta 0.002, 6 at 200 / 100, beta 0.002.")
    partial = ablation.markdown([*rows, row(1, "normal")])
    assert next(line for line in partial if line.startswith("| 1 |")).endswith("| — | — | 0.1000 | 0.2000 |")
    at_one = ablation.markdown([*rows, row(0, "uniform", "0.3", "0.4", beta="1")])
    assert "| 0 | the original recipe | 200 / 100, 1 | 0.3000 | 0.4000 | — | — |" in at_one  # its own group


def test_a_diverged_run_is_a_row_with_its_message(monkeypatch):
    def diverge(*args, **kwargs):
        raise DivergenceError("train/uniform: loss is NaN at epoch 3\nmore")

    monkeypatch.setattr(ablation, "train_fit_score", diverge)
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    out = ablation.run_setting(raw, Setting(0, "uniform", ablation.overrides(0, "uniform")), {}, None, "cpu")
    assert out["note"] == "diverged: train/uniform: loss is NaN at epoch 3" and "test_course_loss" not in out


@pytest.mark.slow
def test_the_script_runs_the_chosen_steps_once_and_a_rerun_skips_them(tmp_path):
    """End to end on tiny data: step 0 (the raw-bounds Uniform at the original rates) and step 5 (today's default)
    each give a finite row; the same call again finds nothing to do."""
    import subprocess
    import sys

    from idx_fixtures import write_fashion_idx

    write_fashion_idx(tmp_path / "data", n_train=40, n_test=20)
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["data"].update(root=str(tmp_path / "data"), n_train=40, n_test=20, verify_md5=False, download=False)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    table = tmp_path / "ablation.csv"
    cmd = [sys.executable, str(ROOT / "scripts/study.py"), "ablation", "run", "--params", str(tmp_path / "params.yaml"),
           "--table", str(table), "--set", "train.epochs=2", "--set", "fit.epochs=2", "--steps", "0", str(len(STEPS) - 1),
           "--families", "uniform"]
    last = str(len(STEPS) - 1)
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert first.returncode == 0, first.stderr
    rows = ablation.read_rows(table)
    assert [(r["step"], r["family"], r["train_epochs"]) for r in rows] == [("0", "uniform", "2"), (last, "uniform", "2")]
    # course_loss of a batch of 20 is at most 255 / sqrt(20 x 784) = 2.04
    assert all(0 < float(r[k]) < 3 for r in rows for k in ("train_course_loss", "test_course_loss"))
    assert all(r["note"] == "" for r in rows)
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert again.returncode == 0 and "0 runs to do" in again.stdout
    assert ablation.read_rows(table) == rows


def test_the_conclusion_reads_the_original_recipe_rows_at_each_beta():
    rows = [row(0, "uniform", "0.08", "0.1602"), row(0, "normal", "0.09", "0.1600"),
            row(0, "uniform", "0.2", "0.2100", beta="1"), row(3, "uniform", "0.03", "0.15")]
    said = ablation.conclusion(rows, {"uniform": (0.1457, 0.1644), "normal": (0.0186, 0.1112)})
    assert "beta 0.002, test course_loss Uniform 0.1602, Normal 0.1600" in said
    assert "beta 1" not in said  # no Normal row at beta 1: nothing to set beside it
    assert "Uniform 0.1644, Normal 0.1112" in said and "no verdict" in said
    assert ablation.conclusion([row(3, "uniform")], {"uniform": (0.1, 0.2), "normal": (0.1, 0.2)}) is None
