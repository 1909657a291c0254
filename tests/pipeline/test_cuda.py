"""The same routines on a CUDA GPU: results match the CPU within a stated tolerance, checkpoints move between them,
and the hot loops stay free of per-step host syncs. Skipped without a GPU; benchmarks/gpu_check.sh runs them there."""
import warnings

import pytest
import torch

from helpers import assert_interrupted_run_resumes_identically, tiny_config, tiny_data
from vadlib.core.distributions import get_distribution
from vadlib.core.models import decode_images
from vadlib.infra.io import save_tensors
from vadlib.pipeline.checkpoint import load_decoder, load_trained
from vadlib.pipeline.fit import fit_latents
from vadlib.measure.reconstruction import reconstruction_metrics
from vadlib.pipeline.train import train_variant

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
CPU, CUDA = torch.device("cpu"), torch.device("cuda")
# float32 on both, TF32 off (PyTorch's default for matmul): the trajectories drift apart only by rounding, so the
# end-of-training figures agree to a few percent on this tiny problem
TOLERANCE = 0.05


def _train_fit_score(device, variant):
    cfg = tiny_config(train={"epochs": 60, "batch_size": 10, "lr_latent": 0.05},
                      fit={"epochs": 60, "lr": 0.05, "init": "random"})
    data, new = tiny_data(20), tiny_data(10, seed=3)
    model, _ = train_variant(cfg, variant, data, device, progress=False)
    decoder = load_decoder(model, device)
    params, _ = fit_latents(decoder, cfg.variant(variant), cfg.fit, new["images"], cfg.seed, "t", progress=False)
    dist = get_distribution(model["distribution"])
    score = reconstruction_metrics(new["images"], decode_images(decoder, dist.mean(params)))["course_loss"]
    return model["history"]["loss"][-1], score


@pytest.mark.parametrize("variant", ["ad", "normal"])
def test_cuda_matches_cpu_within_tolerance(variant):
    (cpu_loss, cpu_score), (gpu_loss, gpu_score) = _train_fit_score(CPU, variant), _train_fit_score(CUDA, variant)
    assert abs(gpu_loss - cpu_loss) <= TOLERANCE * cpu_loss, (gpu_loss, cpu_loss)
    assert abs(gpu_score - cpu_score) <= TOLERANCE * cpu_score, (gpu_score, cpu_score)


def test_checkpoint_written_on_cuda_loads_on_cpu(tmp_path):
    model, _ = train_variant(tiny_config(), "laplace", tiny_data(), CUDA, progress=False)
    save_tensors(tmp_path / "m.pt", model)
    trained = load_trained(tmp_path / "m.pt", CPU)
    assert next(trained.decoder.parameters()).device == CPU
    images = decode_images(trained.decoder, trained.dist.mean(trained.train_params))
    assert images.device == CPU and torch.isfinite(images).all()


def test_interrupted_cuda_training_resumes_to_the_identical_result(tmp_path, monkeypatch, capsys):
    """Stopped in epoch 4, a GPU run picks up its epoch-2 checkpoint, RNG states included, and ends bit for bit where
    an uninterrupted GPU run ends (with cuDNN's deterministic kernels, so that two GPU runs can agree at all)."""
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    assert_interrupted_run_resumes_identically(CUDA, tmp_path, monkeypatch, capsys)


def _count_syncs(run) -> int:
    """Synchronising CUDA calls made while `run()` executes."""
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run()
    finally:
        torch.cuda.set_sync_debug_mode(0)
    return sum("synchroniz" in str(w.message) for w in caught)


def _host_syncs(epochs: int, data, decoder) -> int:
    """Synchronising CUDA calls made by one training run and one fit of `epochs` epochs each."""
    cfg = tiny_config(train={"epochs": epochs, "batch_size": 2},
                      fit={"epochs": epochs, "batch_size": 2, "init": "random"})

    def run():
        train_variant(cfg, "normal", data, CUDA, progress=False)
        fit_latents(decoder, cfg.variant("normal"), cfg.fit, data["images"], cfg.seed, "t", progress=False)

    return _count_syncs(run)


def test_training_and_fitting_sync_with_the_host_per_epoch_not_per_step():
    data = tiny_data(20)  # batch 2: 10 steps per epoch in each loop
    model, _ = train_variant(tiny_config(), "normal", data, CUDA, progress=False)  # lazy CUDA init syncs once
    decoder = load_decoder(model, CUDA)
    per_epoch = (_host_syncs(6, data, decoder) - _host_syncs(2, data, decoder)) / 4  # setup syncs cancel
    assert per_epoch <= 6, per_epoch  # the epoch's loss check and log, in two loops; per-step syncs would be 20+


def test_evaluator_training_syncs_with_the_host_per_epoch_not_per_step():
    from vadlib.infra.config import EvaluatorConfig
    from vadlib.measure.evaluator import train_evaluator

    pool, test_full = tiny_data(120, seed=1), tiny_data(20, seed=2)

    def syncs(epochs: int) -> int:
        cfg = EvaluatorConfig(epochs=epochs, batch_size=10, n_val=20)  # 10 steps per epoch
        return _count_syncs(lambda: train_evaluator(cfg, pool, test_full, 0, CUDA, progress=False))

    syncs(1)  # lazy CUDA init
    per_epoch = (syncs(6) - syncs(2)) / 4
    assert per_epoch <= 4, per_epoch  # the finite check, the epoch loss and the validation accuracy; not 10+


def test_sample_quality_on_cuda_matches_the_cpu():
    """With the evaluator on the GPU, the nearest-train searches and PRDC run there (float64, torch); FD and KID
    stay in torchmetrics on the host. Every score agrees with the CPU path (PRDC there: the `prdc` package)."""
    import copy

    from helpers import StandIn
    from vadlib.infra.config import QualityConfig
    from vadlib.measure.samples import reference_set, sample_quality

    gen = torch.Generator().manual_seed(0)
    real, train, fake = (torch.rand(n, 1, 28, 28, generator=gen) for n in (300, 200, 300))
    cfg = QualityConfig(nearest_k=3)
    scores = {}
    for device in (CPU, CUDA):
        net = copy.deepcopy(StandIn()).to(device)
        scores[device.type] = sample_quality(net, fake, reference_set(net, real, train), cfg, seed=0)
    for key, value in scores["cpu"].items():  # float32 features differ in rounding: a k-NN ball may gain or lose a
        # point at its edge, which moves a PRDC share by 1/300
        tolerance = {"abs": 2 / 300} if key in ("precision", "recall", "density", "coverage") else {"rel": 1e-4}
        assert scores["cuda"][key] == pytest.approx(value, **tolerance), key
