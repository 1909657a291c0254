import pytest
import torch

from helpers import assert_interrupted_run_resumes_identically, tiny_config, tiny_data
from vadlib.infra.errors import CheckpointError, DivergenceError
from vadlib.pipeline.fit import fit_latents
from vadlib.infra.io import load_tensors, save_tensors
from vadlib.core.models import decode_images
from vadlib.core.distributions import get_distribution
from vadlib.measure.reconstruction import reconstruction_metrics
from vadlib.pipeline.checkpoint import as_trained, load_decoder, load_trained
from vadlib.pipeline.train import train_variant

CPU = torch.device("cpu")


@pytest.mark.parametrize("variant", ["ad", "normal", "uniform", "laplace"])
def test_tiny_overfit_reaches_low_loss(variant):
    cfg = tiny_config(train={"epochs": 150, "batch_size": 10, "lr_latent": 0.05})
    data = tiny_data(10)
    ck = train_variant(cfg, variant, data, CPU, progress=False)[0]
    dec = load_decoder(ck, CPU)
    dist = get_distribution(ck["distribution"])
    m = reconstruction_metrics(data["images"], decode_images(dec, dist.mean(ck["latents"])))
    first = ck["history"]["rec"][0]
    assert ck["history"]["rec"][-1] < first / 10
    assert m["mse"] < 0.005, m


def test_fit_recovers_a_training_image():
    cfg = tiny_config(train={"epochs": 150, "batch_size": 10, "lr_latent": 0.05},
                      fit={"epochs": 150, "lr": 0.05, "init": "random"})  # the harder start
    data = tiny_data(10)
    ck = train_variant(cfg, "ad", data, CPU, progress=False)[0]
    dec = load_decoder(ck, CPU)
    params, history = fit_latents(dec, cfg.variant("ad"), cfg.fit, data["images"][:4], cfg.seed, "t", progress=False)
    fitted = reconstruction_metrics(data["images"][:4], decode_images(dec, params))
    start = history["rec"][0] / 784
    assert fitted["mse"] < start / 5 and fitted["mse"] < 0.01, (fitted, start)


def test_same_seed_same_result_other_seed_differs():
    data = tiny_data()
    a = train_variant(tiny_config(), "normal", data, CPU, progress=False)[0]
    b = train_variant(tiny_config(), "normal", data, CPU, progress=False)[0]
    c = train_variant(tiny_config(seed=1), "normal", data, CPU, progress=False)[0]
    assert torch.equal(a["latents"], b["latents"]) and a["history"]["loss"] == b["history"]["loss"]
    assert not torch.equal(a["latents"], c["latents"])


def test_class_init_shares_parameters_within_a_class():
    data = tiny_data()
    cfg = tiny_config(train={"epochs": 1, "lr_latent": 1e-9, "lr_decoder": 1e-9})
    lat = train_variant(cfg, "normal", data, CPU, progress=False)[0]["latents"]
    same = data["labels"] == data["labels"][0]
    assert torch.allclose(lat[same], lat[same][:1].expand_as(lat[same]), atol=1e-6)
    assert not torch.allclose(lat[0], lat[1])


def test_divergence_is_reported_with_variant_and_epoch():
    cfg = tiny_config(train={"lr_decoder": 10.0, "lr_latent": 100.0, "epochs": 5})
    with pytest.raises(DivergenceError, match=r"train/uniform: loss became (nan|inf).* at epoch \d+, step \d+"):
        train_variant(cfg, "uniform", tiny_data(), CPU, progress=False)[0]


def test_checkpoint_round_trip(tmp_path):
    cfg = tiny_config()
    ck = train_variant(cfg, "laplace", tiny_data(), CPU, progress=False)[0]
    save_tensors(tmp_path / "m.pt", ck)
    back = load_tensors(tmp_path / "m.pt")
    assert torch.equal(back["latents"], ck["latents"]) and back["history"] == ck["history"]
    z = torch.randn(3, 8)
    assert torch.equal(decode_images(load_decoder(back, CPU), z), decode_images(load_decoder(ck, CPU), z))
    # a model just trained in memory (tuning scripts) and the same model read from disk (stages) are one thing
    disk, memory = load_trained(tmp_path / "m.pt", CPU), as_trained(ck, CPU)
    assert disk.dist.name == memory.dist.name == "laplace" and torch.equal(disk.train_params, memory.train_params)
    assert torch.equal(decode_images(disk.decoder, z), decode_images(memory.decoder, z))


def test_checkpoint_of_an_unknown_distribution_is_refused(tmp_path):
    ck = train_variant(tiny_config(), "ad", tiny_data(), CPU, progress=False)[0]
    save_tensors(tmp_path / "m.pt", {**ck, "distribution": "cauchy"})
    with pytest.raises(CheckpointError, match=r"m\.pt: names no known latent distribution"):
        load_trained(tmp_path / "m.pt", CPU)


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    ck = train_variant(tiny_config(), "ad", tiny_data(), CPU, progress=False)[0]
    ck["architecture"] = {"latent_dim": 16, "channels": [16, 8]}
    with pytest.raises(CheckpointError, match="architecture"):
        load_decoder(ck, CPU, "m.pt")


def test_pickled_code_is_never_loaded(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_tensors(tmp_path / "evil.pt")


def test_interrupted_training_resumes_to_the_identical_result(tmp_path, monkeypatch):
    assert_interrupted_run_resumes_identically(CPU, tmp_path, monkeypatch)


def test_proxy_scores_the_fit_and_probes_the_test_codes_when_given_labels():
    """fit_and_score (`study.py tune`, `fit-recipes`, the benchmark) returns the fitted rows and, with labels, the k-NN probe:
    test images that copy the train images start from (and stay near) their own rows, so 1-NN labels them right."""
    from vadlib.studies.proxy import fit_and_score

    cfg = tiny_config(train={"epochs": 60, "batch_size": 10, "lr_latent": 0.05}, fit={"epochs": 20, "init": "nearest"},
                      quality={"nearest_k": 1})
    data = tiny_data(20)
    ck = train_variant(cfg, "normal", data, CPU, progress=False)[0]
    plain = fit_and_score(ck, cfg, "normal", data, data["images"], CPU)
    assert "knn_accuracy" not in plain and plain["test_params"].shape == ck["latents"].shape
    scored = fit_and_score(ck, cfg, "normal", data, data["images"], CPU, test_labels=data["labels"])
    assert torch.equal(scored["test_params"], plain["test_params"])  # same seed, same fit
    assert scored["test_course_loss"] == plain["test_course_loss"] < 0.5
    assert scored["knn_accuracy"] >= 0.9, scored["knn_accuracy"]
