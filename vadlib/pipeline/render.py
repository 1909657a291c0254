"""Image grids: originals vs decoded test codes, decoded prior samples, and latent interpolations."""
from __future__ import annotations

import numpy as np
import torch

from ..infra.config import Config
from ..core.distributions import LatentDistribution
from ..core.images import SIDE, to_unit
from ..core.models import Decoder, decode_images
from ..infra.runtime import generator


def reconstruction_grid(decoder: Decoder, dist: LatentDistribution, params: torch.Tensor, images_uint8: torch.Tensor,
                        n_per_row: int, n_rows: int = 3) -> np.ndarray:
    """[2 * n_rows, n_per_row, 28, 28]: each row of originals followed by its reconstructions."""
    n = min(n_per_row * n_rows, images_uint8.shape[0])
    n_rows = max(1, n // n_per_row)
    n = n_rows * n_per_row
    originals = to_unit(images_uint8[:n]).view(n_rows, n_per_row, SIDE, SIDE)
    recon = decode_images(decoder, dist.mean(params[:n])).view(n_rows, n_per_row, SIDE, SIDE)
    return torch.stack([originals, recon], dim=1).reshape(2 * n_rows, n_per_row, SIDE, SIDE).numpy()


def sample_grid(images: torch.Tensor, n_per_row: int) -> np.ndarray:
    """Decoded draws [n, 1, 28, 28] -> [rows, n_per_row, 28, 28], the last row padded with white."""
    n = images.shape[0]
    rows = -(-n // n_per_row)
    padded = torch.ones(rows * n_per_row, 1, SIDE, SIDE)
    padded[:n] = images
    return padded.view(rows, n_per_row, SIDE, SIDE).numpy()


def interpolation_pairs(labels: torch.Tensor, n_pairs: int, seed: int) -> list[tuple[int, int]]:
    """Pairs of test images with different classes, chosen with the seed."""
    order = torch.randperm(labels.shape[0], generator=generator(seed, "interp-pairs")).tolist()
    pairs, used = [], set()
    for i in order:
        if len(pairs) == n_pairs:
            break
        for j in order:
            if j != i and labels[j] != labels[i] and i not in used and j not in used:
                pairs.append((i, j))
                used.update((i, j))
                break
    return pairs


def interpolation_grid(decoder: Decoder, dist: LatentDistribution, params: torch.Tensor, images_uint8: torch.Tensor,
                       pairs: list[tuple[int, int]], steps: int) -> np.ndarray:
    """Rows: original A, `steps` evenly spaced decodes of (1-t) z_A + t z_B for t in [0, 1], original B."""
    means = dist.mean(params)
    t = torch.linspace(0, 1, steps).view(-1, 1)
    rows = []
    for a, b in pairs:
        z = (1 - t) * means[a] + t * means[b]
        decoded = decode_images(decoder, z).view(steps, SIDE, SIDE)
        ends = to_unit(images_uint8[[a, b]]).view(2, SIDE, SIDE)
        rows.append(torch.cat([ends[:1], decoded, ends[1:]]))
    return torch.stack(rows).numpy()


def render_figures(trained, test_params: torch.Tensor, test_data: dict, cfg: Config, variant: str) -> dict:
    """Every grid of one variant as a titled matplotlib figure, keyed by its file name under plots/images/<variant>/
    (samples/<sampler> for each sampler)."""
    from ..infra.figures import image_grid
    from ..measure.generation import draw_images, fit_samplers

    decoder, dist, r = trained.decoder, trained.dist, cfg.render
    pairs = interpolation_pairs(test_data["labels"], r.interp_pairs, cfg.seed)
    names = test_data["class_names"]
    figures = {
        "reconstructions": image_grid(
            reconstruction_grid(decoder, dist, test_params, test_data["images"], r.n_images),
            f"{variant}: test originals (odd rows) vs decoded fitted latents"),
        "interpolations": image_grid(
            interpolation_grid(decoder, dist, test_params, test_data["images"], pairs, r.interp_steps),
            f"{variant}: test image A, {r.interp_steps} evenly spaced decodes from z_A to z_B, test image B",
            [f"{names[test_data['labels'][a]]} -> {names[test_data['labels'][b]]}" for a, b in pairs]),
    }
    for name, sampler in fit_samplers(trained, cfg).items():
        images = draw_images(sampler, decoder, r.n_samples, cfg.seed, f"{variant}/{name}/grid")
        figures[f"samples/{name}"] = image_grid(
            sample_grid(images, r.n_images), f"{variant}: {name} sampler, {sampler.title or name}")
    return figures


def stage(cfg: Config, variant: str) -> str:
    """The `render@<variant>` stage: reconstruction, random-sample and interpolation grids (PNG)."""
    import time

    from ..infra.data import load_prepared
    from ..infra.figures import save_figure
    from ..infra.runtime import describe
    from . import artifacts
    from .checkpoint import open_variant

    start = time.perf_counter()
    device, trained, fitted = open_variant(cfg, variant)
    figures = render_figures(trained, fitted["test"], load_prepared(artifacts.TEST_DATA), cfg, variant)
    for name, figure in figures.items():
        save_figure(figure, artifacts.grid_png(variant, name))
    artifacts.write_seconds("render", variant, time.perf_counter() - start, describe(device))
    return f"render/{variant}: wrote {', '.join(str(artifacts.grid_png(variant, n)) for n in figures)}"
