"""Imputation: codes fitted on the observed pixels only (the objective's mask), the impute@<variant> and
impute_baselines stages."""
import csv
import json

import pytest
import torch

from helpers import StandIn, make_project, run_stage, tiny_config, tiny_data
from vadlib.core.distributions import get_distribution
from vadlib.core.models import Decoder
from vadlib.core.objective import per_image_loss
from vadlib.measure import imputation as imp
from vadlib.pipeline.checkpoint import as_trained
from vadlib.pipeline.fit import fit_splits
from vadlib.pipeline.impute import fit_observed, impute_variant
from vadlib.pipeline.impute_baselines import impute_baselines

CPU = torch.device("cpu")
IMPUTE = {"n_images": 8, "ratios": [0.0, 0.5], "masks": ["bottom_half"], "samples": 4, "knn_k": 2}


def stand_in_model(cfg, variant, n_train=20, seed=0):
    """A random-init decoder of the tiny size with random train rows: fitting's arithmetic needs no training."""
    torch.manual_seed(seed)
    dist = get_distribution(cfg.variant(variant).distribution)
    decoder = Decoder(cfg.model.latent_dim, cfg.model.channels)
    rows = dist.init(n_train, cfg.model.latent_dim, 1.0, 0.1, torch.Generator().manual_seed(seed))
    return as_trained({"distribution": dist.name, "architecture": decoder.architecture(),
                       "decoder": decoder.state_dict(), "latents": rows}, CPU)


def test_the_loss_without_a_mask_is_unchanged_and_a_mask_drops_the_hidden_pixels():
    torch.manual_seed(0)
    decoder, dist = Decoder(8, (16, 8)).eval(), get_distribution("ad")
    params, x = torch.randn(5, 8), torch.rand(5, 1, 28, 28)
    loss, rec, kl = per_image_loss(decoder, dist, params, x, 0.1)
    x_rec = decoder(params)
    assert torch.equal(rec, (x_rec - x).pow(2).flatten(1).sum(1).mean())  # today's arithmetic, exactly
    assert torch.equal(loss, rec + 0.1 * dist.kl(params).mean())
    observed = (~imp.structured_missing("bottom_half", 5)).view(5, 1, 28, 28).float()
    _, rec_masked, kl_masked = per_image_loss(decoder, dist, params, x, 0.1, observed)
    assert torch.allclose(rec_masked, (x_rec - x)[:, :, :14].pow(2).flatten(1).sum(1).mean())
    assert torch.equal(kl_masked, kl)


@pytest.mark.parametrize("variant, init", [("ad", "nearest"), ("normal", "nearest"), ("laplace", "random")])
def test_a_hidden_pixels_value_changes_nothing_in_the_fitted_code(variant, init):
    cfg = tiny_config(fit={"init": init, "epochs": 4, "batch_size": 4})
    trained = stand_in_model(cfg, variant)
    images = tiny_data(10, seed=3)["images"]
    missing = imp.random_missing(10, 0.5, torch.Generator().manual_seed(1))
    noise = torch.randint(0, 256, images.shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    other = torch.where(missing, noise, images)
    assert not torch.equal(other, images)
    a, _ = fit_observed(trained, cfg, variant, images, ~missing, progress=False)
    b, _ = fit_observed(trained, cfg, variant, other, ~missing, progress=False)
    assert torch.equal(a, b)
    full, _ = fit_observed(trained, cfg, variant, images, torch.ones_like(missing), progress=False)
    assert not torch.equal(a, full)  # and the mask does act


@pytest.mark.parametrize("variant", ["ad", "normal"])
def test_a_zero_missing_ratio_reproduces_the_fit_stages_codes(variant):
    cfg = tiny_config(fit={"epochs": 3, "batch_size": 4})
    trained = stand_in_model(cfg, variant)
    test = tiny_data(10, seed=3)
    fitted, *_ = fit_splits(trained.decoder, cfg.variant(variant), cfg.fit, {"test": test}, cfg.seed, variant,
                            progress=False, train_params=trained.train_params)
    missing = imp.conditions([0.0], [], 10, cfg.seed)["random_0"]["missing"]
    codes, history = fit_observed(trained, cfg, variant, test["images"], ~missing, progress=False)
    assert torch.equal(codes, fitted["test"])
    assert history["loss"] == fitted["history"]["test"]["loss"]


def _run_in_process(variant):
    cfg = tiny_config(fit={"epochs": 2, "batch_size": 4}, impute=IMPUTE)
    trained = stand_in_model(cfg, variant)
    test = tiny_data(12, seed=3)
    fitted_test = trained.dist.init(12, 8, 1.0, 0.1, torch.Generator().manual_seed(4))
    return cfg, test, impute_variant(trained, test, fitted_test, StandIn().eval(), cfg, variant, progress=False)


def test_a_vad_reports_scores_accuracy_and_its_completions_uncertainty():
    cfg, _, (metrics, curve, figure, labels) = _run_in_process("normal")
    assert metrics["n_images"] == 8 and metrics["samples"] == 4 and metrics["distribution"] == "normal"
    assert list(metrics["conditions"]) == ["random_0", "random_0.5", "bottom_half"]
    half = metrics["conditions"]["random_0.5"]
    assert half["missing_fraction"] == pytest.approx(round(0.5 * 784) / 784)
    assert set(half) >= {"missing", "whole", "observed", "accuracy", "full_view", "uncertainty", "fit_loss"}
    assert half["missing"]["mse"] > 0 and 0 <= half["accuracy"] <= 1
    u = half["uncertainty"]
    assert u["samples"] == 4 and 0 <= u["coverage_50"] <= u["coverage_90"] <= 1 and u["mean_std"] > 0
    none = metrics["conditions"]["random_0"]
    assert none["missing"]["mse"] is None and none["whole"]["mse"] == 0 and none["uncertainty"]["correlation"] is None
    assert [row[0] for row in curve] == [0.0, 0.5] and curve[1][1] == half["missing"]["mse"]
    # per condition: masked, completion, 3 draws, truth; 8 images per row
    assert figure.shape == (3 * 6, 8, 28, 28) and len(labels) == 18 and labels[0] == "random_0: masked"


def test_the_ad_has_no_posterior_so_its_uncertainty_is_null():
    _, _, (metrics, curve, figure, labels) = _run_in_process("ad")
    assert metrics["samples"] is None
    for row in metrics["conditions"].values():
        assert row["uncertainty"] == imp.NO_UNCERTAINTY
    assert figure.shape == (3 * 3, 8, 28, 28) and curve[1][5:] == [None, None, None]


def test_the_baselines_score_both_methods_on_the_same_masks():
    cfg = tiny_config(impute=IMPUTE)
    train, test = tiny_data(20, seed=0), tiny_data(12, seed=3)
    metrics, curve = impute_baselines(train, test, StandIn().eval(), cfg)
    assert metrics["n_images"] == 8 and metrics["knn_k"] == 2
    bottom = metrics["conditions"]["bottom_half"]
    assert bottom["missing_fraction"] == 0.5 and set(bottom) >= {"knn", "mean"}
    assert bottom["knn"]["missing"]["mse"] < bottom["mean"]["missing"]["mse"]  # blobs: neighbours beat the mean
    assert [row[0] for row in curve] == [0.0, 0.5]


@pytest.mark.slow
def test_the_stages_write_their_metrics_curves_figure_and_seconds(tmp_path):
    project = make_project(tmp_path / "p", epochs=2)
    import yaml

    params = yaml.safe_load((project / "params.yaml").read_text())
    params["impute"] = IMPUTE
    params["variants"] = {k: v for k, v in params["variants"].items() if k in ("ad", "normal")}
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    run_stage(project, "evaluator")
    for variant in ("ad", "normal"):
        run_stage(project, "train", variant)
        run_stage(project, "fit", variant)
        out = run_stage(project, "impute", variant)
        assert f"impute/{variant}: random_0 -, random_0.5 missing-pixel MSE" in out
    run_stage(project, "impute_baselines")
    for variant in ("ad", "normal"):
        metrics = json.loads((project / f"metrics/impute/{variant}.json").read_text())
        assert list(metrics["conditions"]) == ["random_0", "random_0.5", "bottom_half"]
        with open(project / f"plots/impute/{variant}.csv") as f:
            rows = list(csv.DictReader(f))
        assert [r["ratio"] for r in rows] == ["0", "0.5"] and rows[0]["mse_missing"] == ""
        assert (project / f"plots/images/{variant}/imputation.png").stat().st_size > 0
        assert json.loads((project / f"metrics/seconds/impute/{variant}.json").read_text())["impute_seconds"] > 0
    assert json.loads((project / "metrics/impute/normal.json").read_text())["conditions"]["bottom_half"][
        "uncertainty"]["coverage_90"] is not None
    baselines = json.loads((project / "metrics/impute/baselines.json").read_text())
    assert set(baselines["conditions"]["random_0.5"]) >= {"knn", "mean"}
    assert (project / "plots/impute/baselines.csv").read_text().startswith("ratio,knn_mse_missing,")
    assert (project / "metrics/seconds/impute/baselines.json").exists()
