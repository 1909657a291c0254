"""Generation, measured: fit every registered sampler to a variant's train codes, decode its draws, score them.

The score rows share one set of keys (`quality.KEYS`), and every variant gets the same rows, so `dvc metrics show`
is one comparison table. Two reference rows frame the samplers: `real` (held-out real images vs the test images,
the floor any generator aims at) and `reconstruction` (decoded fitted test codes: the decoder's own ceiling).
"""
from __future__ import annotations

import torch

from ..core.models import decode_images
from ..core.samplers import REGISTRY, Sampler, get_sampler
from ..infra.config import Config
from ..infra.runtime import generator
from .quality import reference_set, sample_quality

NOT_A_COPY = 0.9  # a sampler counts as a generator only if its samples lie this far from the training images
# (mean nearest-train distance in the evaluator's feature space, relative to the real test images'; see quality.py)
REFERENCE_ROWS = ("real", "reconstruction")


def fit_samplers(trained, cfg: Config) -> dict[str, Sampler]:
    """Every registered sampler, fitted to the learned train parameter rows (and their images' labels)."""
    return {name: get_sampler(name).fit(trained.dist, trained.train_params, cfg.samplers, cfg.seed, trained.labels)
            for name in REGISTRY}


def draw_images(sampler: Sampler, decoder, n: int, seed: int, purpose: str) -> torch.Tensor:
    """n decoded draws [n, 1, 28, 28] in [0, 1]; the same seed and purpose give the same images."""
    return decode_images(decoder, sampler.sample(n, generator(seed, f"samples/{purpose}")))


def baseline_sampler(dist) -> str:
    """The sampler this project used before samplers existed: N(0, I) for a VAD, a fitted Gaussian for the AD."""
    return "gaussian" if dist.is_point else "prior"


def best_sampler(rows: dict[str, dict], baseline: str) -> dict:
    """The sampler with the lowest FD among those whose samples are not copies (nn_train_ratio >= NOT_A_COPY)."""
    candidates = {n: r for n, r in rows.items() if n in REGISTRY and r["nn_train_ratio"] >= NOT_A_COPY}
    if not candidates:
        return {"name": "none", "fd_vs_baseline": None, "recognisable_vs_real": None}
    name = min(candidates, key=lambda n: candidates[n]["fd"])
    return {
        "name": name,
        "fd_vs_baseline": _ratio(rows[name]["fd"], rows[baseline]["fd"]),
        "recognisable_vs_real": _ratio(rows[name]["recognisable"], rows["real"]["recognisable"]),
    }


def _ratio(a: float, b: float) -> float | None:
    """None (JSON null) where the reference is 0, e.g. no real image recognisable by an untrained evaluator."""
    return a / b if b else None


def sample_study(trained, evaluator, test_params: torch.Tensor, images: dict[str, torch.Tensor], cfg: Config,
                 variant: str) -> dict:
    """Score rows per sampler plus the reference rows, and the best sampler.

    images: float [N, 1, 28, 28] in [0, 1] for "test", "train" (the variant's training images, for the memorisation
    check) and "held_out" (real images neither the variants nor the evaluator trained on).
    """
    q, seed = cfg.quality, cfg.seed
    test, train = images["test"], images["train"]
    ref = reference_set(evaluator, test, train, q.n_samples)
    recon = decode_images(trained.decoder, trained.dist.mean(test_params))
    rows = {
        "real": sample_quality(evaluator, images["held_out"][: q.n_samples], ref, q, seed),
        "reconstruction": sample_quality(evaluator, recon, ref, q, seed),
    }
    for name, sampler in fit_samplers(trained, cfg).items():
        fake = draw_images(sampler, trained.decoder, q.n_samples, seed, f"{variant}/{name}")
        rows[name] = sample_quality(evaluator, fake, ref, q, seed)
    return {"samples": rows, "best_sampler": best_sampler(rows, baseline_sampler(trained.dist))}
