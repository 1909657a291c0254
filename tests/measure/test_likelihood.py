"""The importance-sampled likelihood: a proper pixel distribution, the right answer where it can be computed exactly,
and clear errors."""
import math

import pytest
import torch
from torch import nn

from vadlib.core.distributions import get_distribution
from vadlib.infra.errors import ConfigError
from vadlib.measure import likelihood as lk


def test_the_discretised_pixel_likelihood_sums_to_one_over_the_256_levels():
    levels = torch.arange(256, dtype=torch.float64).view(256, 1) / 255
    for mean, log_s in ((0.0, -3.0), (0.37, -5.0), (1.0, -1.0), (0.5, -8.0)):
        logp = lk.pixel_log_prob(levels, torch.full_like(levels, mean), log_s)
        assert torch.logsumexp(logp, 0).item() == pytest.approx(0.0, abs=1e-9)


def test_the_fitted_scale_is_the_maximum_likelihood_one():
    g = torch.Generator().manual_seed(0)
    mean = torch.rand(50, 1, 28, 28, generator=g)
    x = ((mean + 0.05 * torch.randn(mean.shape, generator=g)).clamp(0, 1) * 255).round() / 255
    best = lk.fit_log_scale(x, mean)
    ll = lambda s: float(lk.pixel_log_prob(x.double(), mean.double(), s).sum())  # noqa: E731
    assert ll(best) >= ll(best + 0.05) and ll(best) >= ll(best - 0.05)


class OneDimDecoder(nn.Module):
    """A 1-d latent decoded to 784 pixels: small enough that p(x) can be integrated on a grid."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.w, self.b = nn.Parameter(torch.randn(784, generator=g)), nn.Parameter(torch.randn(784, generator=g))

    def forward(self, z):
        return torch.sigmoid(z * self.w + self.b).view(-1, 1, 28, 28)


def _exact_log_px(model, x01):
    z = torch.linspace(-8, 8, 16001).view(-1, 1)
    joint = model.log_joint(x01.expand(z.shape[0], *x01.shape[1:]), z).double()
    return float(torch.logsumexp(joint, 0) + math.log(z[1, 0] - z[0, 0]))


@pytest.mark.parametrize("family", ["normal", "laplace", "uniform", "ad"])
def test_the_estimate_matches_exact_integration_in_one_dimension(family):
    decoder = OneDimDecoder()
    dist = get_distribution(family)
    model = lk.Model(decoder, dist, log_scale=-3.0, prior_var=1.0 if family != "ad" else 0.5)
    with torch.no_grad():
        x = (decoder(torch.tensor([[0.3]])) * 255).round().to(torch.uint8)
    x01 = x.float() / 255
    exact = _exact_log_px(model, x01)
    # a proposal roughly on the posterior: the decode's code with a width that covers its spread
    params = torch.tensor([[0.3]]) if family == "ad" else torch.tensor([[0.3, math.log(0.05)]])
    est = lk.log_likelihood(model, params, x, k=5000, seed=0, ad_std=0.05 if family == "ad" else None)
    assert est.shape == (1,) and est.dtype == torch.float64
    assert est.item() == pytest.approx(exact, abs=0.05)


def test_the_estimate_is_reproducible_and_a_narrow_proposal_only_lowers_it():
    decoder = OneDimDecoder()
    model = lk.Model(decoder, get_distribution("normal"), log_scale=-3.0)
    with torch.no_grad():
        x = (decoder(torch.tensor([[0.3], [-0.5]])) * 255).round().to(torch.uint8)
    good = torch.tensor([[0.3, math.log(0.05)], [-0.5, math.log(0.05)]])
    a = lk.log_likelihood(model, good, x, k=2000, seed=3)
    assert torch.equal(a, lk.log_likelihood(model, good, x, k=2000, seed=3))
    narrow = good.clone()
    narrow[:, 1] = math.log(0.001)
    assert (lk.log_likelihood(model, narrow, x, k=2000, seed=3) < a + 1e-6).all()  # a lower bound: never above


def test_the_ad_prior_and_its_proposal_std_come_from_train_data_only():
    assert lk.ad_prior_var(0.01, 0.2) == pytest.approx(0.1)
    with pytest.raises(ConfigError, match="beta"):
        lk.ad_prior_var(0.01, 0.0)
    decoder = OneDimDecoder()
    model = lk.Model(decoder, get_distribution("ad"), log_scale=-3.0, prior_var=0.5)
    with torch.no_grad():
        x = (decoder(torch.tensor([[0.3]])) * 255).round().to(torch.uint8)
    std = lk.choose_ad_std(model, torch.tensor([[0.3]]), x, k=500, seed=0)
    assert std / model.prior_std in lk.AD_STD_GRID


def test_bad_sample_counts_are_one_clear_error():
    model = lk.Model(OneDimDecoder(), get_distribution("normal"), log_scale=-3.0)
    with pytest.raises(ConfigError, match="likelihood samples"):
        lk.log_likelihood(model, torch.zeros(1, 2), torch.zeros(1, 1, 28, 28, dtype=torch.uint8), k=0, seed=0)
    with pytest.raises(ConfigError, match="AD's proposal"):
        lk.log_likelihood(lk.Model(OneDimDecoder(), get_distribution("ad"), -3.0), torch.zeros(1, 1),
                          torch.zeros(1, 1, 28, 28, dtype=torch.uint8), k=10, seed=0)


def test_bits_per_dim_of_a_uniform_guess_is_eight():
    assert lk.bits_per_dim(torch.tensor([-784 * math.log(256)]), 784) == pytest.approx(8.0)


def test_images_with_and_without_a_channel_axis_score_alike_and_a_mismatch_is_refused():
    g = torch.Generator().manual_seed(0)
    mean = torch.rand(3, 1, 28, 28, generator=g)
    x = (torch.rand(3, 28, 28, generator=g) * 255).round() / 255
    assert torch.equal(lk.pixel_log_prob(x, mean, -3.0), lk.pixel_log_prob(x.view(3, 1, 28, 28), mean, -3.0))
    with pytest.raises(ConfigError, match="differ"):
        lk.pixel_log_prob(x[:2], mean, -3.0)
