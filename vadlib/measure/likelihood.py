"""An importance-sampled log-likelihood log p(x) of test images, in bits per dimension, comparable between variants.

    log p(x) ~= logsumexp_k [log p(x | z_k) + log p(z_k) - log r(z_k)] - log K,    z_k ~ r(z | x)

- pixels: a discretised logistic likelihood on the 256 grey levels (bins of width 1/255 on [0, 1], the end bins open),
  centred on the decode f(z) with one scale `s` per model, fitted by maximum likelihood on the *train* images' decodes;
- prior: N(0, I) for a VAD; for the AD the Gaussian N(0, v I) its training objective implies, SSE + beta/2 ||z||^2 being
  the negative log joint of N(x; f(z), sigma^2) and N(0, v) up to scale when v = 2 sigma^2 / beta (sigma^2: the train
  reconstructions' MSE);
- proposal r: per image a diagonal Gaussian fitted to this model's own posterior (`fit_proposal`: the ELBO of the
  logistic pixels and the prior, decoder frozen), started at the image's fitted code (a VAD's posterior mean). The
  codes were fitted under another objective (squared error, beta KL); used as the proposal as they were, they gave
  log p(x) some 200 nats lower, and K = 1000 and 5000 draws disagreed by 5-9 nats per image.

The estimate is a stochastic lower bound of log p(x) for any proposal, so it can only improve with K; a check that K
and 5K agree (`convergence`) says whether K is enough. bits/dim = -log p(x) / (784 ln 2): 8 is a uniform guess.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import NamedTuple

import torch
from torch import Tensor
from torch.nn import functional as F

from ..core.distributions import LatentDistribution
from ..infra.errors import ConfigError, DivergenceError

BIN = 1.0 / 255.0  # one grey level on [0, 1]
PROPOSAL_DRAWS = 4  # reparametrised draws per image and step of the proposal fit
PROPOSAL_LR = 0.01  # Adam on the proposal mean and log std; chosen on train images (likelihood_convergence.py --choose)
PROPOSAL_START_STD = 0.1  # the proposal's first std, in units of the prior std


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
    std = torch.as_tensor(std, dtype=z.dtype, device=z.device)
    return (-0.5 * ((z - loc) / std).pow(2) - std.log() - 0.5 * math.log(2 * math.pi)).sum(-1)


class Model:
    """What one estimate needs: the decoder, the family, the pixel scale and the prior (variance 1 for a VAD)."""

    def __init__(self, decoder, dist: LatentDistribution, log_scale: float, prior_var: float = 1.0):
        self.decoder, self.dist, self.log_scale, self.prior_std = decoder, dist, log_scale, math.sqrt(prior_var)

    def log_joint(self, x01: Tensor, z: Tensor) -> Tensor:
        """log p(x | z) + log p(z) for each row of z against its image row of x01, on the decoder's device,
        differentiable in z; BN in inference mode (call under `frozen` or `torch.no_grad`)."""
        device = next(self.decoder.parameters()).device
        z = z.to(device)
        recon = self.decoder(z).clamp(0, 1)
        return pixel_log_prob(x01.to(device), recon, self.log_scale) + _normal_log_prob(z, 0.0, self.prior_std)


@contextmanager
def frozen(decoder):
    """The decoder in inference mode with no parameter gradients, restored afterwards."""
    was_training, grads = decoder.training, [p.requires_grad for p in decoder.parameters()]
    decoder.eval()
    for p in decoder.parameters():
        p.requires_grad_(False)
    try:
        yield decoder
    finally:
        decoder.train(was_training)
        for p, g in zip(decoder.parameters(), grads):
            p.requires_grad_(g)


class Proposal(NamedTuple):
    """Each image's Gaussian importance proposal N(loc, diag(std^2)), [N, d] each."""

    loc: Tensor
    std: Tensor


def fit_proposal(model: Model, start: Tensor, images_uint8: Tensor, steps: int, seed: int,
                 draws: int = PROPOSAL_DRAWS, lr: float = PROPOSAL_LR) -> Proposal:
    """Each image's proposal: the diagonal Gaussian maximising E_r[log p(x, z)] + H[r] (reparametrised draws, Adam),
    the decoder frozen, its mean started at `start` (the fitted code) and its std at PROPOSAL_START_STD prior stds.
    Close to the posterior of the model the estimate measures, so few draws carry the weight; any proposal still gives
    a lower bound. Seeded on its own stream; torch's global RNG is left as it was."""
    if steps < 0:
        raise ConfigError(f"likelihood proposal steps: got {steps!r}, expected an integer >= 0")
    device = next(model.decoder.parameters()).device
    x01 = images_uint8.to(device).float() / 255.0
    loc = start.detach().to(device).float().clone().requires_grad_(True)
    log_std = torch.full_like(loc, math.log(PROPOSAL_START_STD * model.prior_std)).requires_grad_(True)
    opt = torch.optim.Adam([loc, log_std], lr=lr)
    g = torch.Generator(device=device).manual_seed(seed)
    with frozen(model.decoder):
        for _ in range(steps):
            eps = torch.randn(draws, *loc.shape, generator=g, device=device)
            z = loc + log_std.exp() * eps  # [draws, N, d]
            joint = model.log_joint(x01.expand(draws, *x01.shape).reshape(-1, *x01.shape[1:]),
                                    z.reshape(-1, z.shape[-1]))
            elbo = joint.view(draws, -1).mean(0) + log_std.sum(-1)  # + entropy up to a constant
            opt.zero_grad(set_to_none=True)
            (-elbo.sum()).backward()
            opt.step()
    proposal = Proposal(loc.detach(), log_std.detach().exp())
    if not (torch.isfinite(proposal.loc).all() and torch.isfinite(proposal.std).all()):
        raise DivergenceError("the likelihood proposal fit diverged (non-finite mean or std)")
    return proposal


def log_likelihood(model: Model, proposal: Proposal, images_uint8: Tensor, k: int, seed: int,
                   chunk: int = 4096) -> Tensor:
    """Per-image importance-sampled log p(x) in nats (float64 [N], on the CPU), K draws per image from its proposal,
    on a generator seeded here (torch's global RNG is left as it was)."""
    if k < 1:
        raise ConfigError(f"likelihood samples: got {k!r}, expected an integer >= 1")
    device = next(model.decoder.parameters()).device
    x01 = images_uint8.to(device).float() / 255.0
    loc, std = proposal.loc.to(device), proposal.std.to(device)
    g = torch.Generator(device=device).manual_seed(seed)
    per_image = max(1, chunk // k)
    out = []
    with frozen(model.decoder), torch.no_grad():
        for start in range(0, loc.shape[0], per_image):
            mu, sd, x = loc[start:start + per_image], std[start:start + per_image], x01[start:start + per_image]
            logw = []
            step = max(1, chunk // mu.shape[0])
            for done in range(0, k, step):
                n = min(step, k - done)
                z = mu + sd * torch.randn(n, *mu.shape, generator=g, device=device)  # [n, B, d]
                joint = model.log_joint(x.expand(n, *x.shape).reshape(-1, *x.shape[1:]), z.reshape(-1, z.shape[-1]))
                logw.append(joint.view(n, -1).double() - _normal_log_prob(z, mu, sd).double())
            out.append(torch.logsumexp(torch.cat(logw), dim=0) - math.log(k))
    return torch.cat(out).cpu()


def bits_per_dim(log_px: Tensor, n_dims: int) -> float:
    """-mean log p(x) / (n_dims ln 2)."""
    return float(-log_px.mean() / (n_dims * math.log(2)))
