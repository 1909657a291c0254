"""The evaluator network: a small Fashion-MNIST classifier used as a measuring instrument for sample quality.

It plays the part Inception plays for FID: its penultimate `features` (FEATURE_DIM values per image) are the space
in which Frechet distance, KID and precision/recall compare generated and real images, and its class probabilities
give a "recognisable rate". It learns only from `data/reference/pool.pt`, train-split images no variant trains on
(with `data.evaluator_pool: all`, for runs that train on nearly all of them, the whole train split); `evaluator.n_val`
of them are held out (its validation set, and the real-vs-real reference row), and its accuracy is reported on the
whole 10k test split.

It trains through `core/epochs.py`'s `Epochs`, the loop the latents train in: images live on the device, each step
gathers a shuffled batch by index, and per-step losses stay on the device until the end of the epoch, so CUDA sees
no per-step host syncs. On the CPU the
result is a pure function of the data, the params and the seed (bit-identical weights for the same seed).
"""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..core.images import N_CLASSES as NUM_CLASSES, SIDE, to_unit
from ..infra.config import EvaluatorConfig
from ..core.epochs import Epochs
from ..infra.errors import CheckpointError, DataError
from ..infra.io import load_tensors
from ..infra.runtime import autocast, derive_seed, generator, seed_everything

FEATURE_DIM = 128
FORMAT = "vadlib-evaluator"
VERSION = 1
DEFAULT_CHANNELS = (32, 64)
DEFAULT_DROPOUT = 0.2
# Fashion-MNIST pixel statistics in [0, 1]; fixed constants, so callers always pass plain [0, 1] images.
PIXEL_MEAN, PIXEL_STD = 0.2860, 0.3530
WEIGHT_DECAY = 5e-4
PCT_WARMUP = 0.25  # one-cycle: share of the steps spent raising the rate to evaluator.lr


def _conv_bn_relu(c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class EvaluatorNet(nn.Module):
    """x in [0,1] -> Conv(4,s2) BN ReLU [28->14] -> Conv(4,s2) BN ReLU [14->7] -> (Conv3 BN ReLU)* -> flatten
    -> Linear BN ReLU = features [N, 128] -> Dropout -> Linear = logits [N, 10].

    The two strided 4x4 convolutions do the downsampling themselves: no 28x28 feature maps, no pooling passes,
    which is what makes a few epochs over ~50k images fit in about two minutes on two CPU cores.
    """

    # The width of `features`; torchmetrics reads this attribute on custom feature modules. forward() returns
    # logits, so torchmetrics' FID/KID must get precomputed features (as workflows/quality.py does), not this net.
    num_features = FEATURE_DIM

    def __init__(self, channels: tuple[int, ...] = DEFAULT_CHANNELS, dropout: float = DEFAULT_DROPOUT):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if len(channels) < 2 or min(channels) < 1:
            raise ValueError(f"channels: got {channels}, expected at least two positive widths")
        self.channels, self.dropout = channels, float(dropout)
        layers = _conv_bn_relu(1, channels[0], 4, 2, 1) + _conv_bn_relu(channels[0], channels[1], 4, 2, 1)
        for c_in, c_out in zip(channels[1:], channels[2:]):
            layers += _conv_bn_relu(c_in, c_out, 3, 1, 1)
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Sequential(nn.Linear(channels[-1] * (SIDE // 4) ** 2, FEATURE_DIM, bias=False),
                                  nn.BatchNorm1d(FEATURE_DIM), nn.ReLU(inplace=True))
        self.classifier = nn.Sequential(nn.Dropout(self.dropout), nn.Linear(FEATURE_DIM, NUM_CLASSES))

    def features(self, x01: Tensor) -> Tensor:
        """Penultimate features [N, FEATURE_DIM] of images [N, 1, 28, 28] in [0, 1]."""
        return self.head(self.body((x01 - PIXEL_MEAN) / PIXEL_STD))

    def forward(self, x01: Tensor) -> Tensor:
        """Class logits [N, 10] of images [N, 1, 28, 28] in [0, 1]."""
        return self.classifier(self.features(x01))

    def architecture(self) -> dict:
        return {"channels": list(self.channels), "dropout": self.dropout, "feature_dim": FEATURE_DIM,
                "num_classes": NUM_CLASSES}


def held_out_images(pool: dict, val_rows: Tensor) -> Tensor:
    """The pool images the evaluator held out (uint8 [n_val, 28, 28]): real images neither it nor any variant
    trained on, for the real-vs-real reference row."""
    n = len(pool["images"])
    if len(val_rows) and (int(val_rows.min()) < 0 or int(val_rows.max()) >= n):
        raise CheckpointError(
            f"the evaluator's held-out rows reach row {int(val_rows.max())} but the reference pool has {n} images: "
            "models/evaluator.pt was trained on another pool; rerun the `evaluator` stage (`dvc repro evaluator`)"
        )
    return pool["images"][val_rows]


def _as_unit(images: Tensor) -> Tensor:
    if images.dtype == torch.uint8:
        return to_unit(images)
    images = images.float()
    return images.unsqueeze(1) if images.ndim == 3 else images


def split_pool(pool: dict, cfg: EvaluatorConfig, seed: int) -> tuple[Tensor, Tensor]:
    """(train_rows, val_rows): sorted row numbers into the pool, `cfg.n_val` of them held out, chosen by the seed."""
    n = len(pool["labels"])
    if cfg.n_val < 1 or cfg.n_val >= n:
        raise DataError(
            f"evaluator.n_val: got {cfg.n_val} but the evaluator's reference pool (data/reference/pool.pt, the "
            f"train split minus the models' training images) holds only {n} images; expected 1..{n - 1} so that "
            "some remain to train on. Lower evaluator.n_val or data.n_train in params.yaml, or set "
            "data.evaluator_pool: all (the whole train split, for runs that train on nearly all of it)"
        )
    perm = torch.randperm(n, generator=generator(seed, "evaluator/split"))
    return perm[cfg.n_val:].sort().values, perm[: cfg.n_val].sort().values


def _device_of(net: nn.Module) -> torch.device:
    return next(net.parameters()).device


@torch.no_grad()
def embed(net: EvaluatorNet, images01: Tensor, batch_size: int = 1000) -> tuple[Tensor, Tensor]:
    """(features [N, 128] float32, class probabilities [N, 10] float32), both on the CPU.

    Runs in chunks on the net's device with BatchNorm in eval mode (the net's mode is restored afterwards), so the
    result of one image never depends on the others. `images01`: float [N, 1, 28, 28] in [0, 1] (uint8 images and
    [N, 28, 28] are accepted too).
    """
    device, was_training = _device_of(net), net.training
    net.eval()
    feats, probs = [], []
    try:
        for chunk in images01.split(batch_size):
            f = net.features(_as_unit(chunk.to(device)))
            feats.append(f.float().cpu())
            probs.append(torch.softmax(net.classifier(f).float(), dim=1).cpu())
    finally:
        net.train(was_training)
    if not feats:
        return torch.zeros(0, FEATURE_DIM), torch.zeros(0, NUM_CLASSES)
    return torch.cat(feats), torch.cat(probs)


@torch.no_grad()
def _accuracy(net: EvaluatorNet, images01: Tensor, labels: Tensor, batch_size: int = 1000) -> Tensor:
    """Accuracy as a 0-dim tensor on the net's device (no host sync)."""
    was_training = net.training
    net.eval()
    correct = torch.zeros((), dtype=torch.int64, device=labels.device)
    for x, y in zip(images01.split(batch_size), labels.split(batch_size)):
        correct += (net(x).argmax(1) == y).sum()
    net.train(was_training)
    return correct.double() / max(1, len(labels))


def train_evaluator(cfg: EvaluatorConfig, pool: dict, test_full: dict, seed: int, device: torch.device,
                    progress: bool = True) -> tuple[dict, dict, float]:
    """Train the evaluator; returns (models/evaluator.pt content, metrics/evaluator.json, wall seconds).

    The file content holds only tensors and plain values (weights_only loadable) and is a pure function of the
    inputs; the wall time is returned apart.
    """
    start = time.perf_counter()
    train_rows, val_rows = split_pool(pool, cfg, seed)
    images = to_unit(pool["images"].to(device))
    labels = pool["labels"].to(device)
    x_train, y_train = images[train_rows.to(device)], labels[train_rows.to(device)]
    x_val, y_val = images[val_rows.to(device)], labels[val_rows.to(device)]
    del images, labels
    n = len(train_rows)

    torch.manual_seed(derive_seed(seed, "evaluator/init"))  # weight init
    net = EvaluatorNet().to(device)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    optimizer = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=WEIGHT_DECAY)
    total_steps = cfg.epochs * steps_per_epoch
    # OneCycleLR divides by (pct_start * total_steps - 1): no warm-up phase when it would last under two steps
    warmup = PCT_WARMUP if PCT_WARMUP * total_steps >= 2 else 0.0
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=total_steps, pct_start=warmup)
    seed_everything(seed, "evaluator/dropout")
    history: dict[str, list[float]] = {"loss": [], "val_accuracy": []}

    def step(idx: Tensor) -> Tensor:
        with autocast(device):
            loss = F.cross_entropy(net(x_train[idx]), y_train[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        return (loss.detach() * idx.numel()).reshape(1)

    def summarise(totals: Tensor) -> list[float]:
        """The epoch's mean loss, then the held-out accuracy after it."""
        return [float(totals[:, 0].sum()) / n, float(_accuracy(net, x_val, y_val))]

    net.train()
    Epochs(step, n, cfg.epochs, cfg.batch_size, generator(seed, "evaluator/shuffle"), device, "evaluator",
           "Lower evaluator.lr in params.yaml.", ("loss", "val_accuracy"), history, summarise=summarise,
           timed=False).run(progress=progress, postfix=lambda h: {"loss": f"{h['loss'][-1]:.4f}",
                                                                  "val_acc": f"{h['val_accuracy'][-1]:.4f}"})
    net.eval()

    test_acc = float(_accuracy(net, to_unit(test_full["images"].to(device)), test_full["labels"].to(device)))
    val_acc = history["val_accuracy"][-1]
    model = {
        "format": FORMAT,
        "version": VERSION,
        "architecture": net.architecture(),
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "val_rows": val_rows,
        "val_indices": pool["indices"][val_rows],  # the same images as train-split indices
        "history": history,
        "settings": {"seed": int(seed), "evaluator": dataclasses.asdict(cfg), "weight_decay": WEIGHT_DECAY,
                     "schedule": "one-cycle", "pct_warmup": warmup},
        "class_names": list(pool["class_names"]),
        "test_accuracy": test_acc,
        "val_accuracy": val_acc,
    }
    metrics = {"test_accuracy": round(test_acc, 6), "val_accuracy": round(val_acc, 6), "n_train": n,
               "n_val": len(val_rows), "epochs": cfg.epochs}
    return model, metrics, time.perf_counter() - start


def build_evaluator(checkpoint: dict, device: torch.device, path: str = "checkpoint") -> EvaluatorNet:
    """Rebuild the network a `train_evaluator` file describes, in eval mode on `device`."""
    fix = "rerun the `evaluator` stage (`dvc repro evaluator`)"
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an evaluator network file (no '{FORMAT}' format tag); {fix}")
    if checkpoint.get("version") != VERSION:
        raise CheckpointError(f"{path}: evaluator file version {checkpoint.get('version')!r}, expected {VERSION}; {fix}")
    try:
        arch = checkpoint["architecture"]
        if arch["feature_dim"] != FEATURE_DIM or arch["num_classes"] != NUM_CLASSES:
            raise ValueError(f"feature_dim {arch['feature_dim']}, num_classes {arch['num_classes']}")
        net = EvaluatorNet(tuple(arch["channels"]), arch["dropout"])
        net.load_state_dict(checkpoint["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: does not hold an evaluator matching its architecture ({first}); {fix}") from None
    return net.to(device).eval()


def load_evaluator(path: str | Path, device: torch.device) -> tuple[EvaluatorNet, Tensor]:
    """The trained evaluator from `models/evaluator.pt`, in eval mode on `device` (weights_only loading), and the
    pool rows it held out (see `held_out_images`)."""
    checkpoint = load_tensors(path)
    net = build_evaluator(checkpoint, device, str(path))
    if not isinstance(checkpoint.get("val_rows"), Tensor):
        raise CheckpointError(f"{path}: names no held-out rows; rerun the `evaluator` stage (`dvc repro evaluator`)")
    return net, checkpoint["val_rows"]

