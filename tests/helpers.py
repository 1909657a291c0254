"""Tiny configurations, synthetic data and stage-running projects for fast tests."""
import os
import subprocess
import sys
from pathlib import Path

import torch
import yaml
from torch import nn

from vadlib.infra.config import parse_params
from vadlib.infra.data import CLASS_NAMES
from vadlib.infra.io import save_tensors

VARIANTS = {
    "ad": {"distribution": "ad", "beta": 1e-4, "init": "class"},
    "normal": {"distribution": "normal", "beta": 1e-3, "init": "class"},
    "uniform": {"distribution": "uniform", "beta": 1e-3, "init": "class"},
    "laplace": {"distribution": "laplace", "beta": 1e-3, "init": "class"},
}


def tiny_config(**sections):
    raw = {
        "seed": 0,
        "device": "cpu",
        "model": {"latent_dim": 8, "channels": [16, 8]},
        "train": {"epochs": 3, "batch_size": 8, "lr_decoder": 3e-3, "lr_latent": 3e-2, "checkpoint_every": 1},
        "fit": {"epochs": 3, "batch_size": 8, "lr": 0.05},
        "variants": VARIANTS,
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) and key != "variants" else value
    return parse_params(raw)


def tiny_data(n=20, seed=0):
    """Blurry blobs per class: learnable in a few hundred steps, unlike pure noise."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    centres = torch.rand(10, 2, generator=gen) * 16 + 6
    images = torch.stack([torch.exp(-((yy - centres[c, 0]) ** 2 + (xx - centres[c, 1]) ** 2) / 30) for c in labels])
    images = (images * 255).round().to(torch.uint8)
    return {"images": images, "labels": labels, "indices": torch.arange(n),
            "class_names": list(CLASS_NAMES)}


ROOT = Path(__file__).resolve().parents[1]


def make_project(folder: Path, epochs: int = 6, checkpoint_every: int = 1) -> Path:
    """A working folder with params and prepared tiny data, as the stage scripts expect."""
    folder.mkdir(parents=True, exist_ok=True)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params.update(device="cpu", variants=VARIANTS)
    params["model"]["latent_dim"] = 8
    params["train"].update(epochs=epochs, batch_size=8, checkpoint_every=checkpoint_every)
    params["fit"].update(epochs=3, batch_size=8)
    params["evaluator"].update(epochs=1, n_val=100)
    params["quality"].update(n_samples=20)
    params["evaluate"].update(likelihood_images=5, likelihood_samples=50)
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    for split, seed in (("train", 0), ("test", 2)):  # different images: the memorisation check needs real test images
        save_tensors(folder / f"data/prepared/{split}.pt", tiny_data(40, seed=seed))
    for name in ("pool", "test_full"):  # the evaluator's images (prepare writes these from the real splits)
        save_tensors(folder / f"data/reference/{name}.pt", tiny_data(200, seed=1))
    return folder


def stage(folder, name, *args, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(ROOT / f"stages/{name}.py"), *args], cwd=folder, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def run_stage(folder, name, *args):
    proc = stage(folder, name, *args)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return out + err


class StandIn(nn.Module):
    """EvaluatorNet's interface (features, classifier). An image's first 10 pixels are its class probabilities:
    they lead the features as log p and the classifier reads them back (softmax(log p) = p), so a hand-made
    probability matrix goes in as images; the other features are a fixed projection of all pixels."""

    num_features = 18

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(784, 8)
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(8, 784, generator=torch.Generator().manual_seed(0)) / 28)
            self.proj.bias.zero_()

    def features(self, x01):
        flat = x01.flatten(1)
        return torch.cat([flat[:, :10].clamp_min(1e-12).log(), self.proj(flat)], dim=1)

    def classifier(self, f):
        return f[:, :10]

    def forward(self, x01):
        return self.classifier(self.features(x01))


def assert_best_sampler_passes_the_gate(metrics: dict, where: str = "") -> None:
    """A metrics file's best sampler is a registered sampler (never the `real` or `reconstruction` reference row) whose
    samples are no copies (nn_train_ratio >= 0.9), and no other such sampler has a lower FD; `none` only when every
    sampler copies."""
    from vadlib.core.samplers import REGISTRY

    rows, name = metrics["samples"], metrics["best_sampler"]["name"]
    assert set(REGISTRY) <= set(rows), f"{where}: sampler rows {sorted(rows)}"
    fresh = {s: rows[s]["fd"] for s in REGISTRY if rows[s]["nn_train_ratio"] >= 0.9}
    if name == "none":
        assert not fresh, f"{where}: best sampler 'none' though {sorted(fresh)} are no copies"
        return
    assert name in REGISTRY, f"{where}: best sampler {name!r} is not a sampler"
    assert name in fresh, f"{where}: best sampler {name!r} copies (nn_train_ratio {rows[name]['nn_train_ratio']})"
    assert fresh[name] == min(fresh.values()), f"{where}: {name} FD {fresh[name]}, but the non-copies have {fresh}"


def assert_interrupted_run_resumes_identically(device, tmp_path, monkeypatch, capsys=None) -> None:
    """Train 6 epochs (checkpoint every 2) on `device`; Ctrl-C in the middle of epoch 4 (3 steps per epoch) must leave
    the epoch-2 checkpoint, and the rerun must end bit for bit where an uninterrupted run ends."""
    import pytest

    from vadlib.core import optimize
    from vadlib.infra.errors import Interrupted
    from vadlib.infra.io import load_tensors
    from vadlib.pipeline.train import train_variant

    cfg = tiny_config(train={"epochs": 6, "checkpoint_every": 2})
    data = tiny_data()
    full = train_variant(cfg, "normal", data, device, progress=False)[0]
    calls = {"n": 0}
    real = optimize.per_image_loss

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3 * 3 + 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    resume = tmp_path / "resume.pt"
    monkeypatch.setattr(optimize, "per_image_loss", dying)
    with pytest.raises(Interrupted, match="epoch 4 of 6.*resume"):
        train_variant(cfg, "normal", data, device, resume_path=resume, progress=False)
    assert load_tensors(resume)["epoch"] == 2
    monkeypatch.setattr(optimize, "per_image_loss", real)
    if capsys is not None:
        capsys.readouterr()
    resumed = train_variant(cfg, "normal", data, device, resume_path=resume, progress=False)[0]
    if capsys is not None:
        assert "resuming from epoch 2" in capsys.readouterr().out
    assert torch.equal(resumed["latents"], full["latents"])
    for key, value in full["decoder"].items():
        assert torch.equal(resumed["decoder"][key], value), key
    assert resumed["history"]["loss"] == full["history"]["loss"]
