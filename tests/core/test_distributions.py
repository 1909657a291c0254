import math

import pytest
import torch

from vadlib.core.distributions import REGISTRY, get_distribution

VAD = ["normal", "uniform", "laplace"]


def params_for(name, n=4, dim=3, seed=0, scale=0.7, width=0.4):
    gen = torch.Generator().manual_seed(seed)
    p = get_distribution(name).init(n, dim, scale, width, gen)
    if get_distribution(name).n_params == 2:
        p[:, dim:] += 0.3 * torch.randn(n, dim, generator=gen)  # unequal widths
    return p


def test_registry_has_the_four_variants():
    assert set(REGISTRY) == {"ad", "normal", "uniform", "laplace", "uniform_ab"}


@pytest.mark.parametrize("name", list(REGISTRY))
def test_shapes_and_gradients_flow(name):
    dist = get_distribution(name)
    p = params_for(name).requires_grad_(True)
    assert p.shape == (4, 3 * dist.n_params)
    z = dist.rsample(p)
    assert z.shape == (4, 3) and dist.mean(p).shape == (4, 3) and dist.kl(p).shape == (4,)
    (z.sum() + dist.kl(p).sum()).backward()
    assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    if dist.n_params == 2:  # the width half of the row gets a gradient through the sample
        assert p.grad[:, 3:].abs().sum() > 0


@pytest.mark.parametrize("name", VAD)
def test_constraints_hold_for_any_raw_values(name):
    dist = get_distribution(name)
    p = torch.randn(1000, 8) * 5  # the optimiser may put anything here
    z = dist.rsample(p)
    assert torch.isfinite(z).all() and torch.isfinite(dist.kl(p)).all()
    if name == "uniform":
        a, b = dist.bounds(p)
        # b - a = 2 exp(log_half) > 0; at extreme widths float32 may round it, never invert it
        assert (dist.split(p)[1].exp() > 0).all() and (b >= a).all() and ((z >= a) & (z <= b)).all()


def _moments(name, mu, w):
    """Expected mean and variance for location mu and width w (sigma, half-width, b)."""
    var = {"normal": w**2, "uniform": (2 * w) ** 2 / 12, "laplace": 2 * w**2}[name]
    return mu, var


@pytest.mark.parametrize("name", VAD)
def test_samples_have_the_right_mean_and_variance(name):
    dist = get_distribution(name)
    mu, w = torch.tensor([0.5, -1.0]), torch.tensor([0.3, 1.2])
    p = torch.cat([mu, w.log()]).expand(200_000, 4)
    torch.manual_seed(0)
    z = dist.rsample(p)
    exp_mean, exp_var = _moments(name, mu, w)
    assert torch.allclose(z.mean(0), exp_mean, atol=0.02)
    assert torch.allclose(z.var(0), exp_var, rtol=0.03)


def _log_q(name, z, mu, w):
    if name == "normal":
        return torch.distributions.Normal(mu, w).log_prob(z)
    if name == "laplace":
        return torch.distributions.Laplace(mu, w).log_prob(z)
    return torch.full_like(z, -math.log(2 * w))


@pytest.mark.parametrize("name", VAD)
def test_kl_closed_form_matches_monte_carlo(name):
    dist = get_distribution(name)
    mu, w = 0.8, 0.6
    p = torch.tensor([[mu, math.log(w)]], dtype=torch.float64).expand(400_000, 2)
    torch.manual_seed(1)
    z = dist.rsample(p)[:, 0]
    prior = torch.distributions.Normal(0.0, 1.0)
    mc = (_log_q(name, z, torch.tensor(mu, dtype=torch.float64), w) - prior.log_prob(z)).mean()
    closed = dist.kl(p[:1])[0]
    assert abs(float(closed) - float(mc)) < 0.01, (float(closed), float(mc))


def test_normal_kl_zero_at_the_prior():
    p = torch.zeros(1, 6)  # mu = 0, log sigma = 0
    assert float(get_distribution("normal").kl(p)) == pytest.approx(0.0, abs=1e-7)


def test_ad_penalty_is_half_squared_norm_and_sample_is_the_code():
    dist = get_distribution("ad")
    p = torch.tensor([[3.0, 4.0]])
    assert torch.equal(dist.rsample(p), p) and torch.equal(dist.mean(p), p)
    assert float(dist.kl(p)) == pytest.approx(12.5)


def test_laplace_sample_is_finite_at_the_edge_of_v():
    dist = get_distribution("laplace")
    p = torch.tensor([[0.0, 0.0]])
    # monkeypatch-free: rand_like returning exactly 0 gives v = -1/2, the log's singular point
    orig = torch.rand_like
    try:
        torch.rand_like = lambda t: torch.zeros_like(t)
        z = dist.rsample(p)
    finally:
        torch.rand_like = orig
    assert torch.isfinite(z).all()


def test_uniform_ab_is_the_same_family_read_from_raw_bounds():
    """(a, b) = (c - h, c + h) gives the default Uniform's mean, draws and KL; crossed bounds (b < a) are the same box
    to the KL (ln|b - a|) while their draws still lie between them; the class start is (centre -/+ width)."""
    uniform, raw = get_distribution("uniform"), get_distribution("uniform_ab")
    centre, half = torch.tensor([[0.8, -0.3]], dtype=torch.float64), torch.tensor([[0.6, 0.2]], dtype=torch.float64)
    default_row, raw_row = torch.cat([centre, half.log()], 1), torch.cat([centre - half, centre + half], 1)
    assert torch.allclose(raw.kl(raw_row), uniform.kl(default_row))
    assert torch.allclose(raw.mean(raw_row), centre)
    crossed = torch.cat([centre + half, centre - half], 1)
    assert torch.allclose(raw.kl(crossed), raw.kl(raw_row))
    torch.manual_seed(0)
    z = raw.rsample(crossed.expand(10_000, 4))
    assert ((z >= centre - half) & (z <= centre + half)).all()
    start = raw.init(3, 2, 1.0, 0.1, torch.Generator().manual_seed(0))
    assert torch.allclose(start[:, 2:] - start[:, :2], torch.full((3, 2), 0.2))


@pytest.mark.parametrize("name", ["normal", "uniform", "laplace"])
def test_kl_floor_is_the_minimum_of_the_family_kl(name):
    """The stated floor equals the smallest KL over location and width that a grid search finds, and no member of
    the family goes below it (random rows included)."""
    dist = get_distribution(name)
    loc = torch.linspace(-0.5, 0.5, 41)
    log_width = torch.linspace(-3, 3, 2401)
    L, W = torch.meshgrid(loc, log_width, indexing="ij")
    kl = dist.kl(torch.stack([L.reshape(-1), W.reshape(-1)], dim=1).double())
    assert kl.min().item() == pytest.approx(dist.kl_floor_per_dim, abs=1e-5)
    rows = dist.init(500, 8, 1.0, 0.5, torch.Generator().manual_seed(0)).double()
    assert (dist.kl(rows) >= 8 * dist.kl_floor_per_dim - 1e-9).all()


def test_the_ad_has_no_kl_floor():
    assert get_distribution("ad").kl_floor_per_dim is None


@pytest.mark.parametrize("name,reference", [
    ("normal", lambda p: torch.distributions.Normal(p[:, :3], p[:, 3:].exp())),
    ("laplace", lambda p: torch.distributions.Laplace(p[:, :3], p[:, 3:].exp())),
    ("uniform", lambda p: torch.distributions.Uniform(p[:, :3] - p[:, 3:].exp(), p[:, :3] + p[:, 3:].exp())),
])
def test_log_prob_agrees_with_torch_distributions(name, reference):
    dist = get_distribution(name)
    params = dist.init(5, 3, 1.0, 0.7, torch.Generator().manual_seed(2)).double()
    z = dist.rsample(params.expand(4, *params.shape))
    want = reference(params).log_prob(z).sum(-1)
    assert torch.allclose(dist.log_prob(params, z), want, atol=1e-10)
