"""The tuning campaigns' shared pieces (`scripts/study.py tune|fit-recipes`): `--set` settings, the full-evaluation
proxy's guard, the recipes' grammar and the headline figures."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from vadlib.infra.errors import ConfigError
from vadlib.infra.overrides import apply_override
from vadlib.studies import fit_recipes, tune
from vadlib.studies.proxy import configured, headline

ROOT = Path(__file__).resolve().parents[2]


def test_apply_override_sets_nested_and_top_level_keys_as_yaml_values():
    raw = {"seed": 0, "train": {"epochs": 200}, "variants": {"normal": {"beta": 0.002}}}
    for s in ("seed=3", "train.epochs=150", "variants.normal.beta=2e-4", "train.schedule=constant"):
        apply_override(raw, s)
    assert raw == {"seed": 3, "train": {"epochs": 150, "schedule": "constant"},
                   "variants": {"normal": {"beta": 2e-4}}}
    with pytest.raises(ConfigError, match="nosuch"):
        apply_override(raw, "nosuch.key=1")


def test_settings_apply_on_top_of_the_params_file_and_a_bad_one_is_named(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text((ROOT / "params.yaml").read_text())
    cfg = configured(params, ["train.epochs=3", "variants.normal.beta=2e-4"])
    assert cfg.train.epochs == 3 and cfg.variant("normal").beta == 2e-4
    with pytest.raises(ConfigError, match="epochz"):
        configured(params, ["train.epochz=3"])


def test_tune_evaluate_refuses_settings_that_change_the_reused_data_or_evaluator(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text((ROOT / "params.yaml").read_text())
    for setting in ("data.n_train=500", "evaluator.epochs=2"):
        with pytest.raises(ConfigError, match="may not change `data` or `evaluator`"):
            tune.evaluate("normal", [setting], params=str(params))
        with pytest.raises(ConfigError, match="may not change `data` or `evaluator`"):
            fit_recipes.run(["normal"], ["nearest:0.2:100"], [setting], params=str(params))


def test_a_recipe_is_init_lr_epochs_and_an_optional_beta():
    assert fit_recipes.parse_recipe("nearest:0.2:100") == ("nearest", 0.2, 100, None)
    assert fit_recipes.parse_recipe("random:1.0:150:0") == ("random", 1.0, 150, 0.0)
    for bad in ("nearest:0.2", "nearest:fast:100", "a:1:2:3:4"):
        with pytest.raises(ConfigError, match="init:lr:epochs"):
            fit_recipes.parse_recipe(bad)


def test_the_entry_point_takes_settings_only_through_set():
    """The old spelling (a positional key=value) is refused by argparse, before anything runs."""
    def study(*args):
        return subprocess.run([sys.executable, str(ROOT / "scripts/study.py"), *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)

    out = study("tune", "run", "normal", "train.epochs=3")
    assert out.returncode == 2 and "unrecognized arguments: train.epochs=3" in out.stderr
    out = study("tune", "evaluate", "normal", "--set", "data.n_train=500")
    assert out.returncode == 2 and "error: `tune evaluate` reuses the prepared data" in out.stderr
    out = study("tune", "run", "normal", "--set", "train.epochz=3")
    assert out.returncode == 2 and "train.epochz" in out.stderr


def _sample_row(fd, recognisable, min_share, ratio):
    return {"fd": fd, "kid": 0.1, "precision": 0.9, "recall": 0.5, "density": 1.1, "coverage": 0.8,
            "recognisable": recognisable, "min_class_share": min_share, "nn_train_distance": 5.0,
            "nn_train_ratio": ratio, "nn_train_pixel_distance": 4.0, "nn_train_pixel_ratio": 0.7}


def _metrics(best):
    """A metrics file in the evaluate stage's layout, every headline figure a different number."""
    return {
        "variant": "normal", "distribution": "normal",
        "train": {"course_loss": 0.0399, "mse": 0.0013, "psnr": 28.9},
        "test": {"course_loss": 0.0990, "mse": 0.0073, "psnr": 21.4, "kl": 351.0},
        "latent": {"knn_accuracy": 0.769, "knn_cosine_accuracy": 0.791, "logreg_accuracy": 0.719, "active_units": 100,
                   "pixel_knn_accuracy": 0.771, "pixel_knn_cosine_accuracy": 0.769},
        "samples": {"real": _sample_row(1.29, 0.822, 0.092, 1.003),
                    "reconstruction": _sample_row(6.53, 0.74, 0.08, 0.93),
                    "gmm": _sample_row(9.40, 0.70, 0.075, 0.93), "class_gmm": _sample_row(8.10, 0.760, 0.087, 0.916),
                    "posterior": _sample_row(3.26, 0.83, 0.085, 0.40)},
        "best_sampler": best,
    }


def test_headline_reads_the_best_samplers_row_and_the_latent_probes():
    h = headline(_metrics({"name": "class_gmm", "fd_vs_baseline": 0.134, "recognisable_vs_real": 0.925}))
    assert h == {"test_course_loss": 0.0990, "train_course_loss": 0.0399, "best_sampler": "class_gmm", "best_fd": 8.10,
                 "fd_vs_baseline": 0.134, "recognisable": 0.760, "recognisable_vs_real": 0.925,
                 "min_class_share": 0.087, "nn_train_ratio": 0.916, "knn_accuracy": 0.769,
                 "knn_cosine_accuracy": 0.791}
    assert json.loads(json.dumps(h)) == h  # printable as one JSON line


def test_headline_without_a_best_sampler_has_no_sample_figures():
    h = headline(_metrics({"name": "none", "fd_vs_baseline": None, "recognisable_vs_real": None}))
    assert h["best_sampler"] == "none" and h["test_course_loss"] == 0.0990 and h["knn_accuracy"] == 0.769
    assert all(h[key] is None for key in ("best_fd", "fd_vs_baseline", "recognisable", "recognisable_vs_real",
                                          "min_class_share", "nn_train_ratio"))


# -- tuning scores on the validation images, never on the test images ---------------------------------------------

TUNING_MODULES = ("recipe_search", "tune", "fit_recipes", "sampler_sweep")  # every campaign that chooses a setting


def test_tune_run_fits_the_validation_images_and_no_test_image(tmp_path, monkeypatch):
    """The images `tune run` fits are exactly the test-split rows after the test subset (`data.n_val` of them)."""
    import numpy as np
    import yaml
    from idx_fixtures import write_fashion_idx

    arrays = write_fashion_idx(tmp_path / "fm", n_train=60, n_test=50, gz=True)
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["data"].update(root=str(tmp_path / "fm"), download=False, verify_md5=False, n_train=30, n_test=20, n_val=10)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    monkeypatch.delenv("VADLIB_DATA_ROOT", raising=False)
    seen = {}

    def fake_score(cfg, variant, data, images, device, labels):
        seen["images"], seen["labels"] = images.numpy(), labels.numpy()
        return {"test_course_loss": 0.1, "train_course_loss": 0.1}

    monkeypatch.setattr(tune, "train_fit_score", fake_score)
    line = tune.run("normal", [], 7, str(params))
    test_split = arrays["t10k-images-idx3-ubyte"]
    assert np.array_equal(seen["images"], test_split[20:27])  # the 7 first validation rows
    assert not any((seen["images"][i] == test_split[:20]).all(axis=(1, 2)).any() for i in range(7))
    assert np.array_equal(seen["labels"], arrays["t10k-labels-idx1-ubyte"][20:27])
    assert line["n_val"] == 7 and "val_course_loss" in line and not any(k.startswith("test_") for k in line)


@pytest.mark.parametrize("module", TUNING_MODULES)
def test_no_tuning_campaign_can_reach_the_test_images(module):
    """Static, so it covers the code paths the functional test does not run: a tuning campaign names neither the
    prepared test file nor the test-image readers, and asks `committed_inputs` for the validation images only."""
    import ast

    tree = ast.parse((ROOT / "vadlib" / "studies" / f"{module}.py").read_text())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert not names & {"TEST_DATA", "FULL_TEST_DATA", "course_data"}, f"{module} can read test images"
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        if getattr(call.func, "id", getattr(call.func, "attr", None)) == "committed_inputs":
            split = [a.value for a in call.args[1:] if isinstance(a, ast.Constant)]
            assert split == ["validation"], f"{module}: committed_inputs({split}) must ask for the validation images"
