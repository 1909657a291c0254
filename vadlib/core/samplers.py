"""Ways to draw new latent codes for generation: one small class per sampler, registered by name.

A VAD promises that N(0, I) codes decode to images (`prior`); an AD promises nothing, so its codes need a density
fitted after training (`gaussian`, or the RAE-style `gmm` of Ghosh et al., ICLR 2020; `class_gmm` fits one mixture
per class of the training images, whose labels the class initialisation already uses). `posterior` replays the
aggregate posterior, the upper bound any fitted density aims at. Every sampler reads only `dist.mean` and
`dist.rsample`, so all of them work for every latent family. Sampling takes an explicit torch generator and never
touches a global RNG, so a seed fixes the codes exactly. Samplers that are densities also give `log_density`, the
log-likelihood of codes under what they draw from (the fitted test codes' score under it tells how well the density
generalises beyond the train codes it was fitted to).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ..infra.errors import ConfigError
from ..infra.runtime import derive_seed
from .distributions import LatentDistribution

REGISTRY: dict[str, type["Sampler"]] = {}
RIDGE = 1e-5  # added to fitted covariances: keeps Cholesky alive for collapsed or too few codes
GMM_MAX_CODES = 10_000  # the GMM is fitted to a seeded subsample beyond this many codes (EM cost grows with N)


def register(cls):
    REGISTRY[cls.name] = cls
    return cls


def get_sampler(name: str, where: str = "sampler") -> "Sampler":
    """The registered sampler `name`; an unknown name is one ConfigError naming `where` and the known samplers (the
    same rule as `distributions.get_distribution`)."""
    if name not in REGISTRY:
        raise ConfigError(f"{where}: got {name!r}, expected one of {', '.join(REGISTRY)}")
    return REGISTRY[name]()


def _means(dist: LatentDistribution, params: Tensor) -> Tensor:
    return dist.mean(params.detach().cpu().double())


class Sampler:
    name: str = ""
    title: str = ""  # what the sampler draws from, in words: the caption of its sample grid

    def fit(self, dist: LatentDistribution, params: Tensor, cfg, seed: int, labels: Tensor | None = None) -> "Sampler":
        """params: the learned train rows [N, n_params * dim]; cfg: a SamplersConfig; labels: the train images'
        classes [N] (read only by class-conditional samplers)."""
        self.dim = _means(dist, params[:1]).shape[1]
        self.temperature = float(cfg.temperature)
        return self

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """Codes [n, dim], float32 on CPU, a pure function of the generator's state."""
        raise NotImplementedError

    def log_density(self, codes: Tensor) -> Tensor | None:
        """ln p(z) in nats per code (float64 [n]) under the distribution `sample` draws from (temperature included),
        or None where that is no density in the code space (an empirical replay, a mixture in a PCA subspace)."""
        return None


def _gaussian_log_density(z: Tensor, centres: Tensor, chols: Tensor) -> Tensor:
    """ln N(z_i; centre_c, L_c L_c^T) for every code i and component c: float64 [n, C] (one triangular solve per
    component for all codes at once)."""
    logdet = torch.log(torch.diagonal(chols, dim1=-2, dim2=-1)).sum(-1)  # ln sqrt(det) per component
    const = z.shape[1] * math.log(2 * math.pi)
    columns = [-0.5 * (torch.linalg.solve_triangular(chol, (z - centre).T, upper=False).pow(2).sum(0) + const) - ld
               for centre, chol, ld in zip(centres, chols, logdet)]
    return torch.stack(columns, dim=1) if columns else torch.zeros(len(z), 0, dtype=torch.float64)


@register
class Prior(Sampler):
    """N(0, T^2 I): what the KL term pushed a VAD's codes towards."""

    name = "prior"
    title = "N(0, I)"

    def sample(self, n, generator):
        return torch.randn(n, self.dim, generator=generator) * self.temperature

    def log_density(self, codes):
        eye = self.temperature * torch.eye(self.dim, dtype=torch.float64)
        return _gaussian_log_density(codes.double(), torch.zeros(1, self.dim, dtype=torch.float64), eye[None])[:, 0]


@register
class Gaussian(Sampler):
    """One full-covariance Gaussian fitted to the code means (with a temperature)."""

    name = "gaussian"
    title = "one Gaussian fitted to the train codes"

    def fit(self, dist, params, cfg, seed, labels=None):
        super().fit(dist, params, cfg, seed)
        codes = _means(dist, params)
        self.mu = codes.mean(0)
        cov = torch.cov(codes.T).reshape(self.dim, self.dim) + RIDGE * torch.eye(self.dim, dtype=torch.float64)
        self.chol = torch.linalg.cholesky(cov)
        return self

    def sample(self, n, generator):
        eps = torch.randn(n, self.dim, generator=generator).double()
        return (self.mu + self.temperature * eps @ self.chol.T).float()

    def log_density(self, codes):
        return _gaussian_log_density(codes.double(), self.mu[None], self.temperature * self.chol[None])[:, 0]


def _component_covariances(gmm, k: int) -> Tensor:
    """sklearn stores covariances per covariance_type; return them all as [K, k, k] float64."""
    cov = torch.as_tensor(gmm.covariances_, dtype=torch.float64)
    n = gmm.weights_.shape[0]
    kind = gmm.covariance_type
    if kind == "full":
        return cov
    if kind == "tied":
        return cov.expand(n, k, k).clone()
    if kind == "diag":
        return torch.diag_embed(cov)
    return cov[:, None, None] * torch.eye(k, dtype=torch.float64)  # spherical


def _fit_mixture(x: np.ndarray, n_components: int, cfg, state: int) -> tuple[Tensor, Tensor, Tensor]:
    """sklearn's GaussianMixture on the rows of x: (weights [K], centres [K, k], Cholesky factors [K, k, k])."""
    from sklearn.mixture import GaussianMixture

    gmm = GaussianMixture(n_components=min(n_components, x.shape[0]), covariance_type=cfg.gmm_covariance,
                          reg_covar=cfg.gmm_reg_covar, random_state=state).fit(x)
    return (torch.as_tensor(gmm.weights_, dtype=torch.float64), torch.as_tensor(gmm.means_, dtype=torch.float64),
            torch.linalg.cholesky(_component_covariances(gmm, x.shape[1])))


@register
class GMM(Sampler):
    """Ex-post density estimation (RAE): a Gaussian mixture on the code means, optionally in top-k PCA space.

    sklearn only fits; sampling is done here with the torch generator (component, then Gaussian noise), so draws are
    reproducible and the temperature scales each component's spread around its own mean. Beyond
    GMM_MAX_CODES codes (full scale: 55k codes x 100 components is minutes of EM per fit) the mixture is fitted
    to a seeded subsample, which still gives every component ~100 codes. With PCA, the dropped
    directions are filled with their mean (plain PCA reconstruction): they are the lowest-variance ones, and
    modelling them would need a covariance estimated in exactly the space PCA was asked to leave out.
    """

    name = "gmm"
    title = "a Gaussian mixture fitted to the train codes"

    max_codes = GMM_MAX_CODES

    def fit(self, dist, params, cfg, seed, labels=None):
        from sklearn.decomposition import PCA

        super().fit(dist, params, cfg, seed)
        codes = _means(dist, params)
        if labels is not None:
            labels = torch.as_tensor(labels).reshape(-1)
            if len(labels) != len(codes):
                raise ConfigError(f"sampler {self.name}: got {len(labels)} labels for {len(codes)} codes")
        if codes.shape[0] > self.max_codes:
            pick = torch.randperm(codes.shape[0], generator=torch.Generator().manual_seed(
                derive_seed(seed, "samplers/gmm/subsample")))[: self.max_codes].sort().values
            codes, labels = codes[pick], None if labels is None else labels[pick]
        state = derive_seed(seed, "samplers/gmm") % 2**32
        k = min(cfg.gmm_pca_dim, *codes.shape) if cfg.gmm_pca_dim > 0 else self.dim
        self.basis = None
        x = codes.numpy()
        if k < self.dim:
            pca = PCA(n_components=k, svd_solver="full", random_state=state).fit(x)
            x = pca.transform(x)
            self.basis = torch.as_tensor(pca.components_, dtype=torch.float64)  # [k, dim], orthonormal rows
            self.offset = torch.as_tensor(pca.mean_, dtype=torch.float64)
        self.weights, self.centres, self.chols = self._mixture(x, labels, cfg, state)
        return self

    def _mixture(self, x: np.ndarray, labels: Tensor | None, cfg, state: int) -> tuple[Tensor, Tensor, Tensor]:
        return _fit_mixture(x, cfg.gmm_components, cfg, state)

    def sample(self, n, generator):
        comp = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.centres.shape[1], generator=generator).double()
        z = self.centres[comp] + self.temperature * torch.einsum("nij,nj->ni", self.chols[comp], eps)
        if self.basis is not None:
            z = z @ self.basis + self.offset
        return z.float()

    def log_density(self, codes):
        if self.basis is not None:
            return None  # a density on the PCA subspace only
        per_component = _gaussian_log_density(codes.double(), self.centres, self.temperature * self.chols)
        return torch.logsumexp(per_component + torch.log(self.weights)[None], dim=1)


@register
class ClassGMM(GMM):
    """A Gaussian mixture per class of the training images, weighted by class frequency: p(z) = sum_c p(c) p(z|c).

    Same settings as `gmm` (its `gmm_components` are split over the classes in proportion to their counts, at least
    one each), so the two differ only in whether a component may straddle two classes. EM on all codes does let
    components straddle them, and a draw from such a component decodes to a blend that is no class at all.
    Needs the train labels, as the class initialisation does; it draws classes by frequency, so it remains an
    unconditional generator.
    """

    name = "class_gmm"
    title = "a Gaussian mixture per class of the train codes"

    def _mixture(self, x, labels, cfg, state):
        if labels is None:
            raise ConfigError("sampler class_gmm: needs the training images' labels (fit(..., labels=...))")
        labels = labels.numpy()
        classes, counts = np.unique(labels, return_counts=True)
        parts = [_fit_mixture(x[labels == c], max(1, round(cfg.gmm_components * count / len(x))), cfg, state)
                 for c, count in zip(classes, counts)]
        weights = torch.cat([w * (count / len(x)) for (w, _, _), count in zip(parts, counts)])
        return weights, torch.cat([p[1] for p in parts]), torch.cat([p[2] for p in parts])


@register
class Posterior(Sampler):
    """The aggregate posterior: a uniformly chosen train image's own q(z|x); for the AD, its training code.

    rsample draws from torch's global RNG, so it runs inside fork_rng seeded from the generator: the draw is
    reproducible and the caller's global stream is left untouched. The temperature scales the offset from the row's
    mean (T <= 1 keeps a Uniform draw inside its box).
    """

    name = "posterior"
    title = "the aggregate posterior (a train image's own q(z|x))"

    def fit(self, dist, params, cfg, seed, labels=None):
        super().fit(dist, params, cfg, seed)
        self.dist = dist
        self.params = params.detach().cpu().float().clone()
        return self

    def sample(self, n, generator):
        rows = self.params[torch.randint(self.params.shape[0], (n,), generator=generator)]
        draw_seed = int(torch.randint(2**62, (1,), generator=generator))
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(draw_seed)
            z = self.dist.rsample(rows)
        mu = self.dist.mean(rows)
        return (mu + self.temperature * (z - mu)).float()
