"""Per-sample latent distributions: one small class per family, registered by name.

Training and fitting only ever call the methods below, so adding a family means adding one class
with `@register`. Each image owns a flat row of `n_params * latent_dim` numbers in a latent table;
the classes say how to read that row. Widths are stored as logs so every constraint (sigma > 0,
b > a, b > 0) holds for any value the optimiser produces; `uniform_ab`, the original course parametrisation kept to
reproduce its result, is the one exception.

The auto-decoder is the degenerate member: a point mass whose "KL" is the finite part of a point's
divergence from N(0, I), 0.5 * ||z||^2 — exactly DeepSDF's L2 code regulariser, weighted by beta.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ..infra.errors import ConfigError

REGISTRY: dict[str, type["LatentDistribution"]] = {}
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def register(cls):
    REGISTRY[cls.name] = cls
    return cls


def get_distribution(name: str, where: str = "distribution") -> "LatentDistribution":
    """The registered family `name`; an unknown name is one ConfigError naming `where` (the params key) and the
    known families. Names are checked here, where they are resolved, so reading params needs no torch."""
    if name not in REGISTRY:
        raise ConfigError(f"{where}: got {name!r}, expected one of {', '.join(REGISTRY)}")
    return REGISTRY[name]()


class LatentDistribution:
    name: str = ""
    n_params: int = 2  # numbers per latent dimension
    is_point: bool = False  # True for the AD: there is no learned spread and no true prior
    # min over the family's members of KL(q || N(0, 1)) per dimension (at zero location, the best width): the rate a
    # family pays however little its codes carry, so rates compare between families only above it (None: the AD)
    kl_floor_per_dim: float | None = 0.0

    def split(self, params: Tensor) -> tuple[Tensor, Tensor]:
        loc, log_width = params.chunk(2, dim=-1)
        return loc, log_width

    def init(self, n: int, dim: int, scale: float, width: float, generator: torch.Generator) -> Tensor:
        """Random parameter rows: locations ~ N(0, scale^2), widths all equal to `width`."""
        loc = torch.randn(n, dim, generator=generator) * scale
        log_width = torch.full((n, dim), math.log(width))
        return torch.cat([loc, log_width], dim=1)

    def mean(self, params: Tensor) -> Tensor:
        return self.split(params)[0]

    def rsample(self, params: Tensor) -> Tensor:
        raise NotImplementedError

    def kl(self, params: Tensor) -> Tensor:
        """KL(q || N(0, I)) per sample, summed over dimensions."""
        raise NotImplementedError

    def log_prob(self, params: Tensor, z: Tensor) -> Tensor:
        """log q(z) per code, summed over dimensions (z broadcasts against the rows of params): the importance
        weights of the likelihood estimate need the posterior's density, not only its samples."""
        raise NotImplementedError


@register
class Delta(LatentDistribution):
    """The auto-decoder: a learned code per image; beta weighs the L2 penalty 0.5 * ||z||^2."""

    name = "ad"
    n_params = 1
    is_point = True
    kl_floor_per_dim = None

    def init(self, n, dim, scale, width, generator):
        return torch.randn(n, dim, generator=generator) * scale

    def mean(self, params):
        return params

    def rsample(self, params):
        return params

    def kl(self, params):
        return 0.5 * params.pow(2).sum(-1)


@register
class Normal(LatentDistribution):
    """(mu, log sigma); z = mu + sigma * eps."""

    name = "normal"

    def rsample(self, params):
        mu, log_sigma = self.split(params)
        return mu + log_sigma.exp() * torch.randn_like(mu)

    def kl(self, params):
        mu, log_sigma = self.split(params)
        return (0.5 * (mu.pow(2) + (2 * log_sigma).exp() - 1) - log_sigma).sum(-1)

    def log_prob(self, params, z):
        mu, log_sigma = self.split(params)
        return (-0.5 * ((z - mu) / log_sigma.exp()).pow(2) - log_sigma - HALF_LOG_2PI).sum(-1)


@register
class Uniform(LatentDistribution):
    """(centre, log half-width); a = c - h, b = c + h, z = a + (b - a) * u, so b > a always."""

    name = "uniform"
    kl_floor_per_dim = 0.5 * (1 + math.log(math.pi / 6))  # width sqrt(12): the uniform with N(0, 1)'s variance

    def bounds(self, params):
        centre, log_half = self.split(params)
        half = log_half.exp()
        return centre - half, centre + half

    def rsample(self, params):
        a, b = self.bounds(params)
        return a + (b - a) * torch.rand_like(a)

    def kl(self, params):
        a, b = self.bounds(params)
        _, log_half = self.split(params)
        log_width = log_half + math.log(2.0)
        return (-log_width + HALF_LOG_2PI + (a * a + a * b + b * b) / 6).sum(-1)

    def log_prob(self, params, z):
        a, b = self.bounds(params)
        lo, hi = torch.minimum(a, b), torch.maximum(a, b)
        inside = ((z >= lo) & (z <= hi)).all(-1)
        density = -torch.log(hi - lo).sum(-1)
        return torch.where(inside, density, torch.full_like(density, -math.inf))


@register
class Laplace(LatentDistribution):
    """(mu, log b); z = mu - b * sign(v) * ln(1 - 2|v|), v ~ U(-1/2, 1/2)."""

    name = "laplace"
    kl_floor_per_dim = 0.5 * (math.log(math.pi) - 1)  # scale b = 1/sqrt(2): the Laplace with N(0, 1)'s variance

    def rsample(self, params):
        mu, log_b = self.split(params)
        v = torch.rand_like(mu) - 0.5
        # |v| -> 1/2 would give log(0); the clamp only touches v within 1e-7 of the edge.
        return mu - log_b.exp() * v.sign() * torch.log1p(-2 * v.abs()).clamp_min(math.log(1e-7))

    def kl(self, params):
        mu, log_b = self.split(params)
        return (-1 - (math.log(2.0) + log_b) + HALF_LOG_2PI + (mu.pow(2) + 2 * (2 * log_b).exp()) / 2).sum(-1)

    def log_prob(self, params, z):
        mu, log_b = self.split(params)
        return (-(z - mu).abs() / log_b.exp() - log_b - math.log(2.0)).sum(-1)


@register
class UniformBounds(Uniform):
    """The original course parametrisation: the bounds (a, b) themselves, learned with no constraint that b > a.

    Not a default: it exists to reproduce the original Uniform result (`scripts/study.py ablation`). The width enters
    the KL as ln|b - a|, so a row whose bounds cross is still a uniform on [min, max] to the KL; a row whose bounds
    meet has an infinite KL, which training reports as a divergence.
    """

    name = "uniform_ab"

    def split(self, params):
        a, b = params.chunk(2, dim=-1)
        return a, b

    def init(self, n, dim, scale, width, generator):
        centre = torch.randn(n, dim, generator=generator) * scale
        return torch.cat([centre - width, centre + width], dim=1)

    def bounds(self, params):
        return self.split(params)

    def mean(self, params):
        a, b = self.split(params)
        return (a + b) / 2

    def kl(self, params):
        a, b = self.split(params)
        return (-torch.log((b - a).abs()) + HALF_LOG_2PI + (a * a + a * b + b * b) / 6).sum(-1)
