"""The evaluator network (the measuring instrument for sample quality), on tiny synthetic class-separable data."""
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from helpers import VARIANTS, tiny_data
from vadlib.infra.config import EvaluatorConfig
from vadlib.infra.errors import CheckpointError, DataError, DivergenceError
from vadlib.infra.io import save_tensors
from vadlib.infra.runtime import derive_seed
from vadlib.measure.evaluator import (FEATURE_DIM, EvaluatorNet, _accuracy, build_evaluator, embed,
                                        held_out_images, load_evaluator, split_pool, to_unit, train_evaluator)

ROOT = Path(__file__).resolve().parents[2]
CPU = torch.device("cpu")
CFG = EvaluatorConfig(epochs=3, batch_size=32, lr=3e-3, n_val=40)


def noisy_data(n, noise_seed):
    """tiny_data's per-class blobs (same class centres for every call) plus per-image noise, as uint8."""
    data = tiny_data(n, seed=0)
    gen = torch.Generator().manual_seed(noise_seed)
    noisy = data["images"].float() + 60 * torch.randn(data["images"].shape, generator=gen)
    data["images"] = noisy.clamp(0, 255).round().to(torch.uint8)
    return data


@pytest.fixture(scope="module")
def pool():
    return noisy_data(200, noise_seed=1)


@pytest.fixture(scope="module")
def test_full():
    return noisy_data(100, noise_seed=2)


@pytest.fixture(scope="module")
def trained(pool, test_full):
    return train_evaluator(CFG, pool, test_full, seed=0, device=CPU, progress=False)


def test_learns_separable_classes(trained):
    model, metrics, seconds = trained
    assert set(metrics) == {"test_accuracy", "val_accuracy", "n_train", "n_val", "epochs"}
    assert metrics["test_accuracy"] >= 0.8, metrics  # chance is 0.1
    assert metrics["val_accuracy"] >= 0.8, metrics
    assert (metrics["n_train"], metrics["n_val"], metrics["epochs"]) == (160, 40, 3)
    assert len(model["history"]["loss"]) == len(model["history"]["val_accuracy"]) == 3
    assert model["history"]["loss"][-1] < model["history"]["loss"][0]
    assert isinstance(seconds, float) and seconds > 0


def _pool_loss_and_accuracy(net, pool):
    with torch.no_grad():
        logits = net.eval()(to_unit(pool["images"]))
    return float(F.cross_entropy(logits, pool["labels"])), float((logits.argmax(1) == pool["labels"]).double().mean())


# (batch size, epochs): 4 steps an epoch; 1 step (the whole training part of the pool); a batch larger than the data
@pytest.mark.parametrize("batch_size, epochs", [(40, 3), (160, 6), (1000, 6)])
def test_any_number_of_steps_learns(pool, test_full, batch_size, epochs):
    """Against the same network untrained (the init seed the trainer uses): chance-level before, well above after."""
    torch.manual_seed(derive_seed(0, "evaluator/init"))
    untrained_loss, untrained_accuracy = _pool_loss_and_accuracy(EvaluatorNet(), pool)
    assert untrained_loss > 2.2 and untrained_accuracy < 0.2  # ln 10 = 2.30; chance is 0.1
    cfg = replace(CFG, epochs=epochs, batch_size=batch_size)
    model, metrics, _ = train_evaluator(cfg, pool, test_full, seed=0, device=CPU, progress=False)
    assert metrics["epochs"] == epochs and len(model["history"]["loss"]) == epochs
    assert model["history"]["loss"][-1] < model["history"]["loss"][0] / 2
    loss, accuracy = _pool_loss_and_accuracy(build_evaluator(model, CPU), pool)
    assert loss < untrained_loss - 0.5 and accuracy >= 0.5, (loss, accuracy)
    assert metrics["test_accuracy"] >= 0.5 and metrics["val_accuracy"] >= 0.5, metrics


def test_a_batch_larger_than_the_data_is_one_batch_of_all_of_it(pool, test_full):
    """160 training images: batch 160 and batch 1000 both take one step an epoch over the same images."""
    whole, _, _ = train_evaluator(replace(CFG, batch_size=160), pool, test_full, seed=0, device=CPU, progress=False)
    larger, _, _ = train_evaluator(replace(CFG, batch_size=1000), pool, test_full, seed=0, device=CPU, progress=False)
    assert all(torch.equal(larger["state_dict"][k], v) for k, v in whole["state_dict"].items())
    assert larger["history"] == whole["history"]


class FirstPixels(nn.Module):
    """Logits = an image's first 10 pixels: the class an image gets is whichever of them is brightest."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x.flatten(1)[:, :10]


def test_accuracy_is_counted_over_every_chunk():
    """2500 images in chunks of 1000, 1000, 500: 10, 20 and 40 misclassified in them, so 2430 / 2500 right; any chunk
    dropped, counted twice or paired with another chunk's labels gives another number."""
    n = 2500
    labels = torch.arange(n) % 10
    x = torch.zeros(n, 1, 28, 28)
    x.view(n, -1)[torch.arange(n), labels] = 1.0
    wrong = torch.cat([torch.arange(0, 100, 10), torch.arange(1000, 1200, 10), torch.arange(2000, 2400, 10)])
    x.view(n, -1)[wrong, (labels[wrong] + 1) % 10] = 2.0
    net = FirstPixels().train()
    accuracy = _accuracy(net, x, labels)
    assert accuracy.ndim == 0 and accuracy.dtype == torch.float64 and net.training  # the mode is restored
    assert float(accuracy) == 2430 / 2500
    assert float(_accuracy(net, x, labels, batch_size=7)) == 2430 / 2500
    assert float(_accuracy(net, x[:1000], labels[:1000])) == 990 / 1000
    assert float(_accuracy(net, x[:0], labels[:0])) == 0.0


def test_model_file_is_plain_and_loads_with_weights_only(trained, tmp_path):
    model = trained[0]
    assert model["architecture"]["feature_dim"] == FEATURE_DIM
    assert all(t.device.type == "cpu" for t in model["state_dict"].values())
    save_tensors(tmp_path / "evaluator.pt", model)
    again = torch.load(tmp_path / "evaluator.pt", weights_only=True)
    assert torch.equal(again["val_rows"], model["val_rows"]) and again["history"] == model["history"]
    assert "seconds" not in json.dumps({k: v for k, v in model.items() if k not in ("state_dict", "val_rows",
                                                                                   "val_indices")})


def test_same_seed_gives_identical_weights_and_another_seed_does_not(pool, test_full, trained):
    model, metrics, _ = trained
    again, again_metrics, _ = train_evaluator(CFG, pool, test_full, seed=0, device=CPU, progress=False)
    assert again["state_dict"].keys() == model["state_dict"].keys()
    assert all(torch.equal(again["state_dict"][k], v) for k, v in model["state_dict"].items())
    assert torch.equal(again["val_rows"], model["val_rows"]) and again_metrics == metrics
    other, _, _ = train_evaluator(CFG, pool, test_full, seed=1, device=CPU, progress=False)
    assert not torch.equal(other["val_rows"], model["val_rows"])
    assert not all(torch.equal(other["state_dict"][k], v) for k, v in model["state_dict"].items())


def test_save_load_round_trip_gives_identical_features(trained, pool, tmp_path):
    model = trained[0]
    save_tensors(tmp_path / "evaluator.pt", model)
    net, _ = load_evaluator(tmp_path / "evaluator.pt", CPU)
    assert isinstance(net, EvaluatorNet) and not net.training
    direct = build_evaluator(model, CPU)
    images = to_unit(pool["images"][:30])
    f1, p1 = embed(net, images)
    f2, p2 = embed(direct, images)
    assert torch.equal(f1, f2) and torch.equal(p1, p2)
    assert p1.argmax(1).eq(pool["labels"][:30]).float().mean() > 0.8


def test_embed_shapes_probabilities_and_chunking(trained, pool):
    net = build_evaluator(trained[0], CPU)
    net.train()  # embed must use BatchNorm's running statistics regardless, and restore the mode
    images = to_unit(pool["images"][:25])
    feats, probs = embed(net, images, batch_size=1000)
    assert net.training
    assert feats.shape == (25, FEATURE_DIM) and probs.shape == (25, 10)
    assert feats.dtype == probs.dtype == torch.float32 and feats.device.type == probs.device.type == "cpu"
    assert torch.allclose(probs.sum(1), torch.ones(25), atol=1e-5) and (probs >= 0).all()
    small_f, small_p = embed(net, images, batch_size=7)  # chunking must not change a row
    assert torch.allclose(small_f, feats, atol=1e-5) and torch.allclose(small_p, probs, atol=1e-6)
    alone, _ = embed(net, images[:1])  # in eval mode an image's features do not depend on its batch
    assert torch.allclose(alone, feats[:1], atol=1e-5)
    net.eval()
    assert net(images[:5]).shape == (5, 10) and net.features(images[:5]).shape == (5, FEATURE_DIM)
    assert EvaluatorNet.num_features == FEATURE_DIM == 128
    empty_f, empty_p = embed(net, images[:0])
    assert empty_f.shape == (0, FEATURE_DIM) and empty_p.shape == (0, 10)


def test_to_unit_scales_and_adds_the_channel():
    x = torch.tensor([[[0, 255], [51, 102]]], dtype=torch.uint8)
    out = to_unit(x)
    assert out.shape == (1, 1, 2, 2) and out.dtype == torch.float32
    assert torch.equal(out.flatten(), torch.tensor([0.0, 1.0, 0.2, 0.4]))
    with pytest.raises(TypeError):
        to_unit(out)


def test_split_pool_is_seeded_disjoint_and_complete(pool):
    train_rows, val_rows = split_pool(pool, CFG, seed=0)
    assert len(val_rows) == 40 and len(train_rows) == 160
    assert torch.equal(torch.sort(torch.cat([train_rows, val_rows])).values, torch.arange(200))
    again = split_pool(pool, CFG, seed=0)
    assert torch.equal(again[1], val_rows) and not torch.equal(split_pool(pool, CFG, seed=1)[1], val_rows)
    assert torch.equal(held_out_images(pool, val_rows), pool["images"][val_rows])


def test_too_small_pool_is_a_clear_error(pool, test_full):
    cfg = replace(CFG, n_val=200)
    with pytest.raises(DataError, match=r"evaluator\.n_val: got 200 .* holds only 200 images"):
        split_pool(pool, cfg, seed=0)
    with pytest.raises(DataError, match=r"evaluator\.n_val"):
        train_evaluator(cfg, pool, test_full, seed=0, device=CPU, progress=False)


def test_held_out_rows_from_another_pool_are_refused(pool):
    with pytest.raises(CheckpointError, match="another pool"):
        held_out_images(pool, torch.tensor([3, 250]))


def test_nan_loss_raises_divergence_naming_the_epoch(pool, test_full):
    with pytest.raises(DivergenceError, match=r"evaluator: loss became nan at epoch 1.*evaluator\.lr"):
        train_evaluator(replace(CFG, lr=1e30), pool, test_full, seed=0, device=CPU, progress=False)


def test_corrupt_foreign_or_mismatched_files_are_checkpoint_errors(trained, tmp_path):
    missing = tmp_path / "missing.pt"
    with pytest.raises(CheckpointError, match="not found"):
        load_evaluator(missing, CPU)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"this is not a torch file")
    with pytest.raises(CheckpointError, match=str(corrupt)):
        load_evaluator(corrupt, CPU)
    foreign = tmp_path / "foreign.pt"  # e.g. a variant's model file handed over by mistake
    save_tensors(foreign, {"architecture": {"latent_dim": 8, "channels": [16, 8]}, "decoder": {}})
    with pytest.raises(CheckpointError, match=f"{foreign}.*not an evaluator"):
        load_evaluator(foreign, CPU)
    model = trained[0]
    wrong = tmp_path / "wrong.pt"  # right tag, but weights of another width
    save_tensors(wrong, {**model, "architecture": {**model["architecture"], "channels": [16, 32]}})
    with pytest.raises(CheckpointError, match=f"{wrong}.*architecture"):
        load_evaluator(wrong, CPU)
    truncated = tmp_path / "truncated.pt"
    save_tensors(truncated, model)
    truncated.write_bytes(truncated.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=str(truncated)):
        load_evaluator(truncated, CPU)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_trains_on_cuda(pool, test_full):
    model, metrics, _ = train_evaluator(CFG, pool, test_full, seed=0, device=torch.device("cuda"), progress=False)
    assert metrics["test_accuracy"] >= 0.8
    assert all(t.device.type == "cpu" for t in model["state_dict"].values())
    net = build_evaluator(model, torch.device("cuda"))
    feats, probs = embed(net, to_unit(test_full["images"]))
    assert feats.device.type == "cpu" and torch.allclose(probs.sum(1), torch.ones(len(probs)), atol=1e-5)


@pytest.mark.slow  # trains the evaluator in a subprocess, twice
def test_stage_writes_model_metrics_and_seconds(tmp_path, pool, test_full):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params.update(device="cpu", variants=VARIANTS)
    params["evaluator"] = {"epochs": 2, "batch_size": 32, "lr": 3e-3, "n_val": 100}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    save_tensors(tmp_path / "data/reference/pool.pt", pool)
    save_tensors(tmp_path / "data/reference/test_full.pt", test_full)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "stages/evaluator.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("evaluator: test accuracy")
    metrics = json.loads((tmp_path / "metrics/evaluator.json").read_text())
    assert metrics["n_val"] == 100 and metrics["n_train"] == 100 and metrics["epochs"] == 2
    seconds = json.loads((tmp_path / "metrics/seconds/evaluator/evaluator.json").read_text())
    assert set(seconds) == {"evaluator_seconds", "device", "cpu"} and seconds["cpu"]
    net, _ = load_evaluator(tmp_path / "models/evaluator.pt", CPU)
    assert embed(net, to_unit(pool["images"][:3]))[0].shape == (3, FEATURE_DIM)

    params["evaluator"]["n_val"] = 250  # more than the pool holds: one clear line, exit code 2, nothing written
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "models/evaluator.pt").unlink()
    proc = subprocess.run([sys.executable, str(ROOT / "stages/evaluator.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    device_line, error_line = proc.stderr.splitlines()  # the stage names its device first, then the one error
    assert proc.returncode == 2 and device_line.startswith("device: cpu"), proc.stderr
    assert error_line.startswith("error: evaluator.n_val: got 250"), proc.stderr
    assert not (tmp_path / "models/evaluator.pt").exists()
