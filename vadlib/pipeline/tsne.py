"""2-D t-SNE of latent codes (the mean of each image's distribution) for the train and test sets."""
from __future__ import annotations

import numpy as np
import torch

from ..infra.config import TsneConfig
from ..infra.runtime import derive_seed, generator


def embed(codes: torch.Tensor, labels: torch.Tensor, cfg: TsneConfig, seed: int, purpose: str):
    """Returns (xy [n, 2], labels [n], row indices used); at most `cfg.n_points` rows, picked with the seed."""
    from sklearn.manifold import TSNE  # slow import, only this stage needs it

    n = codes.shape[0]
    rows = torch.arange(n)
    if n > cfg.n_points:
        rows = torch.randperm(n, generator=generator(seed, f"tsne-pick/{purpose}"))[: cfg.n_points].sort().values
    x = codes[rows].double().numpy()
    perplexity = min(cfg.perplexity, (len(rows) - 1) / 3)  # sklearn requires perplexity < n_samples
    tsne = TSNE(n_components=2, perplexity=perplexity, max_iter=cfg.max_iter, init="pca",
                random_state=derive_seed(seed, f"tsne/{purpose}") % (2**32), n_jobs=1)
    xy = tsne.fit_transform(x).astype(np.float32)
    return xy, labels[rows].numpy(), rows.numpy()


def embed_splits(dist, params: dict, data: dict, cfg: TsneConfig, seed: int, variant: str):
    """t-SNE of each split's latent means: ({split: CSV rows (x, y, class name)}, a side-by-side scatter figure)."""
    from ..infra.figures import scatter_by_class

    tables, panels = {}, []
    for split, rows in params.items():
        xy, labels, _ = embed(dist.mean(rows), data[split]["labels"], cfg, seed, f"{variant}/{split}")
        names = data[split]["class_names"]
        tables[split] = [[float(a), float(b), names[c]] for (a, b), c in zip(xy, labels)]
        panels.append((f"{split} ({len(labels)} images)", xy, labels))
    return tables, scatter_by_class(panels, names, f"t-SNE of {variant} latent means")


def stage(cfg, variant: str) -> str:
    """The `tsne@<variant>` stage: 2-D t-SNE of train and test latent means -> CSVs (DVC scatter) and a PNG."""
    import time

    from ..infra.data import load_prepared
    from ..infra.figures import save_figure
    from ..infra.io import write_csv
    from . import artifacts
    from .checkpoint import open_variant

    start = time.perf_counter()
    _, trained, fitted = open_variant(cfg, variant, "cpu")  # scikit-learn's t-SNE runs on the CPU
    params = {"train": trained.train_params, "test": fitted["test"]}
    data = {"train": load_prepared(artifacts.TRAIN_DATA), "test": load_prepared(artifacts.TEST_DATA)}
    tables, figure = embed_splits(trained.dist, params, data, cfg.tsne, cfg.seed, variant)
    for split, rows in tables.items():
        write_csv(artifacts.tsne_csv(variant, split), ["x", "y", "class"], rows)
    save_figure(figure, artifacts.tsne_png(variant))
    artifacts.write_seconds("tsne", variant, time.perf_counter() - start, "cpu (scikit-learn)")
    return f"tsne/{variant}: wrote {artifacts.tsne_png(variant)}"
