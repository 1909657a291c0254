"""Generation, measured: fit every registered sampler to a variant's train codes, decode its draws, score them.

The score rows share one set of keys (`quality.KEYS`), and every variant gets the same rows, so `dvc metrics show`
is one comparison table. Two reference rows frame the samplers: `real` (held-out real images vs the test images,
the floor any generator aims at) and `reconstruction` (decoded fitted test codes: the decoder's own ceiling).

The best sampler is chosen on FD against the held-out real images (the `real` row's images), not against the test
images its row reports, so the reported FD of the chosen sampler is not selected on its own noise. The samplers that
are densities also score the codes (`code_density`): the mean log-likelihood of the fitted test codes under each,
next to the train codes they were fitted to.
"""
from __future__ import annotations

import torch

from ..core.models import decode_images
from ..core.samplers import REGISTRY, Sampler, get_sampler
from ..infra.config import Config
from ..infra.runtime import generator
from .gate import NOT_A_COPY  # noqa: F401  (re-exported: the gate the selection below applies)
from .samples import embed_images, frechet_distance, reference_set, sample_quality

# (mean nearest-train distance in the evaluator's feature space, relative to the real test images'; see quality.py)


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


def best_sampler(rows: dict[str, dict], baseline: str, held_out_fd: dict[str, float] | None = None) -> dict:
    """The sampler with the lowest FD among those whose samples are not copies (nn_train_ratio >= NOT_A_COPY).

    With `held_out_fd` (sampler -> FD against held-out real images) the choice is made on it, so that the test images
    its row is then scored on play no part in choosing it; without, on the rows' own (test) FD.
    """
    candidates = [n for n, r in rows.items() if n in REGISTRY and r["nn_train_ratio"] >= NOT_A_COPY]
    if not candidates:
        return {"name": "none", "fd_vs_baseline": None, "recognisable_vs_real": None}
    name = min(candidates, key=lambda n: held_out_fd[n] if held_out_fd is not None else rows[n]["fd"])
    return {
        "name": name,
        "fd_vs_baseline": _ratio_or_none(rows[name]["fd"], rows[baseline]["fd"]),
        "recognisable_vs_real": _ratio_or_none(rows[name]["recognisable"], rows["real"]["recognisable"]),
    }


def code_log_likelihood(sampler: Sampler, dist, params: torch.Tensor) -> float | None:
    """Mean ln p(z) of the code means under the sampler's density (nats per code), None if it has none."""
    logp = sampler.log_density(dist.mean(params.detach().cpu().double()))
    return None if logp is None else float(logp.mean())


def _ratio_or_none(a: float, b: float) -> float | None:
    """None (JSON null) where the reference is 0, e.g. no real image recognisable by an untrained evaluator."""
    return a / b if b else None


def sample_study(trained, evaluator, test_params: torch.Tensor, images: dict[str, torch.Tensor], cfg: Config,
                 variant: str) -> dict:
    """Score rows per sampler plus the reference rows, and the best sampler.

    images: float [N, 1, 28, 28] in [0, 1] for "test", "train" (the variant's training images, for the memorisation
    check), "held_out" (real images neither the variants nor the evaluator trained on) and, when the caller has
    decoded them already, "reconstruction" (the decoded means of `test_params`).
    """
    q, seed = cfg.quality, cfg.seed
    test, train, held_out = images["test"], images["train"], images["held_out"][: q.n_samples]
    ref = reference_set(evaluator, test, train, q.n_samples)
    recon = images.get("reconstruction")
    if recon is None:
        recon = decode_images(trained.decoder, trained.dist.mean(test_params))
    held_out_embedded = embed_images(evaluator, held_out)
    rows = {
        "real": sample_quality(evaluator, held_out, ref, q, seed, held_out_embedded),
        "reconstruction": sample_quality(evaluator, recon, ref, q, seed),
    }
    samplers, held_out_fd = fit_samplers(trained, cfg), {}
    for name, sampler in samplers.items():
        fake = draw_images(sampler, trained.decoder, q.n_samples, seed, f"{variant}/{name}")
        embedded = embed_images(evaluator, fake)
        rows[name] = sample_quality(evaluator, fake, ref, q, seed, embedded)
        held_out_fd[name] = frechet_distance(held_out_embedded[0], embedded[0])
    best = best_sampler(rows, baseline_sampler(trained.dist), held_out_fd)
    if best["name"] != "none":
        best["held_out_fd"] = held_out_fd[best["name"]]
    return {"samples": rows, "best_sampler": best,
            "code_density": code_densities(samplers, trained.dist, trained.train_params, test_params)}


def code_densities(samplers: dict[str, Sampler], dist, train_params: torch.Tensor, test_params: torch.Tensor) -> dict:
    """Mean log-likelihood (nats per code) of the train codes and of the fitted test codes under every sampler that
    is a density, and the best fitted density: the one under which the test codes are most likely. A density fitted
    to the train codes can sample well and still generalise badly (a mixture of ~10 codes per component in 100
    dimensions), which the train-test gap shows."""
    test, train = {}, {}
    for name, sampler in samplers.items():
        value = code_log_likelihood(sampler, dist, test_params)
        if value is not None:
            test[name], train[name] = value, code_log_likelihood(sampler, dist, train_params)
    best = max(test, key=test.get) if test else None
    return {"best": best or "none", "best_test_log_likelihood": test.get(best), "test_log_likelihood": test,
            "train_log_likelihood": train}
