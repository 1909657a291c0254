"""Stage `prepare`: verify Fashion-MNIST, take the train/test subsets and the evaluator's pool, write them."""
from __future__ import annotations

from pathlib import Path

import torch

from ..infra.config import DataConfig
from ..infra.data import evaluator_pool, load_split, per_class, select_subset, subset_payload, validation_rows
from ..infra.data_sources import find_or_fetch
from ..infra.errors import DataError
from ..infra.io import save_tensors, write_json
from . import artifacts


def prepare(cfg: DataConfig, seed: int, out_dir: str | Path = artifacts.PREPARED,
            metrics_path: str | Path = artifacts.DATA_METRICS,
            reference_dir: str | Path | None = artifacts.REFERENCE,
            validation_path: str | Path | None = artifacts.VAL_DATA, root: str | Path | None = None) -> dict:
    """Load, validate and subset both splits, and only then write train.pt, test.pt, the validation images
    (`validation_path`, see `infra.data.validation_rows`) and the metrics.

    `reference_dir` also gets the images the evaluator network may learn from: `pool.pt`, the train split minus the
    models' training images (or all of it with `data.evaluator_pool: all`), and `test_full.pt`, the whole test split
    (for the evaluator's accuracy). `root`: the folder with the IDX files; by default the first that has them
    (`infra.data_sources.find_or_fetch`).
    """
    root = find_or_fetch(cfg)[1] if root is None else root
    outputs, reference = {}, {}
    for split, n in (("train", cfg.n_train), ("test", cfg.n_test)):
        images, labels = load_split(root, split, cfg.verify_md5)
        if n > len(labels):
            raise DataError(
                f"data.n_{split}: got {n} but the {split} split has {len(labels)} images; lower it in params.yaml"
            )
        idx = select_subset(labels, n, cfg.subset, seed, name=f"data.n_{split}")
        outputs[split] = subset_payload(images, labels, idx)
        if split == "train":
            reference["pool"] = subset_payload(images, labels, evaluator_pool(len(labels), idx, cfg.evaluator_pool))
        else:
            reference["test_full"] = subset_payload(images, labels, torch.arange(len(labels)))
            validation = subset_payload(images, labels, validation_rows(len(labels), idx, cfg.n_val))
    metrics = {
        "n_train": cfg.n_train,
        "n_test": cfg.n_test,
        "subset": cfg.subset,
        "train_per_class": per_class(outputs["train"]["labels"]),
        "test_per_class": per_class(outputs["test"]["labels"]),
        "n_val": cfg.n_val,
        "val_per_class": per_class(validation["labels"]),
        "n_reference_pool": len(reference["pool"]["labels"]),
        "evaluator_pool": cfg.evaluator_pool,
    }
    for split, payload in outputs.items():
        save_tensors(Path(out_dir) / f"{split}.pt", payload)
    if reference_dir is not None:
        for name, payload in reference.items():
            save_tensors(Path(reference_dir) / f"{name}.pt", payload)
    if validation_path is not None:
        save_tensors(validation_path, validation)
    write_json(metrics_path, metrics)
    return metrics


def stage(cfg) -> str:
    """The `prepare` stage: everything it writes, and the line it prints."""
    label, root = find_or_fetch(cfg.data)
    m = prepare(cfg.data, cfg.seed, root=root)
    return (f"prepared {m['n_train']} train / {m['n_test']} test images ({m['subset']} subset, seed {cfg.seed}) from "
            f"{root} ({label}) -> {artifacts.PREPARED}/")
