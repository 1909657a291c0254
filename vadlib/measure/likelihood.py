"""An importance-sampled log-likelihood log p(x) of test images, in bits per dimension, comparable between variants.

    log p(x) ~= logsumexp_k [log p(x | z_k) + log p(z_k) - log r(z_k)] - log K,    z_k ~ r(z | x)

- pixels: a discretised logistic likelihood on the 256 grey levels (bins of width 1/255 on [0, 1], the end bins open),
  centred on the decode f(z) with one scale `s` per model, fitted by maximum likelihood on the *train* images' decodes;
- prior: N(0, I) for a VAD; for the AD the Gaussian N(0, v I) its training objective implies, SSE + beta/2 ||z||^2 being
  the negative log joint of N(x; f(z), sigma^2) and N(0, v) up to scale when v = 2 sigma^2 / beta (sigma^2: the train
  reconstructions' MSE);
- proposal r: a VAD's fitted posterior q(z | x) of the image itself; for the AD (a point code, no posterior) a Gaussian
  centred at its fitted code whose std is chosen on train images (the largest estimate on a grid).

The estimate is a stochastic lower bound of log p(x) for any proposal, so it can only improve with K; a check that K
and 5K agree (`convergence`) says whether K is enough. bits/dim = -log p(x) / (784 ln 2): 8 is a uniform guess.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F

from ..core.distributions import LatentDistribution
from ..core.models import decode_images
from ..infra.errors import ConfigError

BIN = 1.0 / 255.0  # one grey level on [0, 1]
AD_STD_GRID = (0.03, 0.1, 0.3, 1.0)  # the AD proposal's std, in units of the prior std, chosen on train images


def pixel_log_prob(x01: Tensor, mean: Tensor, log_scale: float | Tensor) -> Tensor:
    """Per-image log P(x | mean) in nats, summed over pixels: each grey level k/255 owns the bin of width 1/255 around
    it under a logistic(mean, s) density, the bins at 0 and 1 open to -inf / +inf, so the levels' probabilities sum
    to 1. `x01` and `mean` are N images each, any shape, on [0, 1] (`x01` on the 1/255 grid)."""
    if x01.shape[0] != mean.shape[0] or x01[0].numel() != mean[0].numel():
        raise ConfigError(f"pixel likelihood: images {tuple(x01.shape)} and decodes {tuple(mean.shape)} differ in "
                          "count or pixels per image")
    x01, mean = x01.reshape(x01.shape[0], -1), mean.reshape(mean.shape[0], -1)
    s = torch.as_tensor(log_scale, dtype=mean.dtype).exp()
    centred = (x01 - mean) / s
    half = 0.5 * BIN / s
    upper, lower = centred + half, centred - half
    # log(sigmoid(u) - sigmoid(l)) = logsigmoid(u) + logsigmoid(-l) + log(1 - exp(l - u)): stable for any bin
    inner = F.logsigmoid(upper) + F.logsigmoid(-lower) + torch.log(-torch.expm1(lower - upper))
    at_zero = F.logsigmoid(upper)  # P(x <= 0.5/255)
    at_one = F.logsigmoid(-lower)  # P(x > 254.5/255)
    logp = torch.where(x01 < 0.5 * BIN, at_zero, torch.where(x01 > 1 - 0.5 * BIN, at_one, inner))
    return logp.sum(1)


def fit_log_scale(x01: Tensor, mean: Tensor) -> float:
    """The maximum-likelihood log scale of the discretised logistic for these images and decodes (bounded scalar
    search, scipy)."""
    from scipy.optimize import minimize_scalar

    x01, mean = x01.double(), mean.double()

    def nll(log_s: float) -> float:
        return -float(pixel_log_prob(x01, mean, log_s).sum())

    result = minimize_scalar(nll, bounds=(math.log(1e-4), math.log(1.0)), method="bounded",
                             options={"xatol": 1e-6})
    return float(result.x)


def ad_prior_var(train_mse: float, beta: float) -> float:
    """The variance of the Gaussian prior the AD's objective SSE + beta/2 ||z||^2 implies: 2 sigma^2 / beta."""
    if not beta > 0:
        raise ConfigError(f"the AD's beta (code penalty weight): got {beta!r}, expected > 0 for it to imply a prior")
    return 2.0 * train_mse / beta


def _normal_log_prob(z: Tensor, loc: Tensor | float, std: Tensor | float) -> Tensor:
    std = torch.as_tensor(std, dtype=z.dtype)
    return (-0.5 * ((z - loc) / std).pow(2) - std.log() - 0.5 * math.log(2 * math.pi)).sum(-1)


class Model:
    """What one estimate needs: the decoder, the family, the pixel scale and the prior (variance 1 for a VAD)."""

    def __init__(self, decoder, dist: LatentDistribution, log_scale: float, prior_var: float = 1.0):
        self.decoder, self.dist, self.log_scale, self.prior_std = decoder, dist, log_scale, math.sqrt(prior_var)

    def log_joint(self, x01: Tensor, z: Tensor) -> Tensor:
        """log p(x | z) + log p(z) for each row of z against its image row of x01."""
        recon = decode_images(self.decoder, z).to(x01.device)
        return pixel_log_prob(x01, recon, self.log_scale) + _normal_log_prob(z, 0.0, self.prior_std)


def _proposal(model: Model, params: Tensor, ad_std: float | None):
    """(draw(k) -> [k, N, d] codes, log r(z) [k, N]) for these images' rows: the fitted posterior of a VAD, a Gaussian
    of std `ad_std` around the AD's code."""
    dist = model.dist
    if dist.is_point:
        if ad_std is None:
            raise ConfigError("the AD's proposal needs its std (choose_ad_std)")
        return (lambda k: params + ad_std * torch.randn(k, *params.shape, dtype=params.dtype),
                lambda z: _normal_log_prob(z, params, ad_std))
    return (lambda k: dist.rsample(params.expand(k, *params.shape)), lambda z: dist.log_prob(params, z))


def log_likelihood(model: Model, params: Tensor, images_uint8: Tensor, k: int, seed: int,
                   ad_std: float | None = None, chunk: int = 4096) -> Tensor:
    """Per-image importance-sampled log p(x) in nats (float64 [N]), K draws per image from the proposal, on torch's
    global RNG seeded here and restored afterwards (nothing drawn later shifts)."""
    if k < 1:
        raise ConfigError(f"likelihood samples: got {k!r}, expected an integer >= 1")
    x01 = images_uint8.to(params.device).float() / 255.0
    per_image = max(1, chunk // k)
    out = []
    cuda = [params.device.index or 0] if params.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda), torch.no_grad():
        torch.manual_seed(seed)
        for start in range(0, params.shape[0], per_image):
            rows, x = params[start:start + per_image].detach(), x01[start:start + per_image]
            draw, log_r = _proposal(model, rows, ad_std)
            logw = []
            for done in range(0, k, max(1, chunk // rows.shape[0])):
                n = min(max(1, chunk // rows.shape[0]), k - done)
                z = draw(n)  # [n, B, d]
                joint = model.log_joint(x.expand(n, *x.shape).reshape(-1, *x.shape[1:]), z.reshape(-1, z.shape[-1]))
                logw.append(joint.view(n, -1).double() - log_r(z).double())
            out.append(torch.logsumexp(torch.cat(logw), dim=0) - math.log(k))
    return torch.cat(out).cpu()


def bits_per_dim(log_px: Tensor, n_dims: int) -> float:
    """-mean log p(x) / (n_dims ln 2)."""
    return float(-log_px.mean() / (n_dims * math.log(2)))


def choose_ad_std(model: Model, train_params: Tensor, train_uint8: Tensor, k: int, seed: int,
                  grid=AD_STD_GRID) -> float:
    """The AD proposal's std, in units of the prior std, with the largest mean estimate on the given train images:
    every proposal gives a lower bound, so the best one on train images is the tightest (no test image is used)."""
    scores = {g: float(log_likelihood(model, train_params, train_uint8, k, seed, g * model.prior_std).mean())
              for g in grid}
    return max(scores, key=scores.get) * model.prior_std
