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
    with torch.no_grad():
        joint = model.log_joint(x01.expand(z.shape[0], *x01.shape[1:]), z).double()
    return float(torch.logsumexp(joint, 0) + math.log(z[1, 0] - z[0, 0]))


def _one_image(decoder, z=0.3):
    with torch.no_grad():
        return (decoder(torch.tensor([[z]])) * 255).round().to(torch.uint8)


@pytest.mark.parametrize("family", ["normal", "laplace", "uniform", "ad"])
def test_the_estimate_matches_exact_integration_in_one_dimension(family):
    decoder = OneDimDecoder()
    model = lk.Model(decoder, get_distribution(family), log_scale=-3.0, prior_var=1.0 if family != "ad" else 0.5)
    x = _one_image(decoder)
    exact = _exact_log_px(model, x.float() / 255)
    # the fit starts off the posterior (at 0.0, the decode's code being 0.3) and finds it
    proposal = lk.fit_proposal(model, torch.zeros(1, 1), x, steps=300, seed=0)
    assert abs(proposal.loc.item() - 0.3) < 0.05
    est = lk.log_likelihood(model, proposal, x, k=2000, seed=1)
    assert est.shape == (1,) and est.dtype == torch.float64
    assert est.item() == pytest.approx(exact, abs=0.05)


def test_the_estimate_is_reproducible_and_a_narrow_proposal_only_lowers_it():
    decoder = OneDimDecoder()
    model = lk.Model(decoder, get_distribution("normal"), log_scale=-3.0)
    with torch.no_grad():
        x = (decoder(torch.tensor([[0.3], [-0.5]])) * 255).round().to(torch.uint8)
    good = lk.fit_proposal(model, torch.tensor([[0.3], [-0.5]]), x, steps=300, seed=0)
    assert torch.equal(good.loc, lk.fit_proposal(model, torch.tensor([[0.3], [-0.5]]), x, steps=300, seed=0).loc)
    a = lk.log_likelihood(model, good, x, k=2000, seed=3)
    assert torch.equal(a, lk.log_likelihood(model, good, x, k=2000, seed=3))
    narrow = lk.Proposal(good.loc, good.std / 50)
    assert (lk.log_likelihood(model, narrow, x, k=2000, seed=3) < a + 1e-6).all()  # a lower bound: never above


def test_the_proposal_fit_beats_the_unfitted_start_and_leaves_the_decoder_and_global_rng_alone():
    decoder = OneDimDecoder()
    model = lk.Model(decoder, get_distribution("normal"), log_scale=-3.0)
    x = _one_image(decoder, -0.5)
    before = [p.clone() for p in decoder.parameters()]
    torch.manual_seed(7)
    expected = torch.rand(1)
    torch.manual_seed(7)
    start = lk.Proposal(torch.zeros(1, 1), torch.full((1, 1), lk.PROPOSAL_START_STD))
    fitted = lk.fit_proposal(model, start.loc, x, steps=300, seed=0)
    assert torch.equal(torch.rand(1), expected)
    assert all(torch.equal(p, q) and p.requires_grad for p, q in zip(decoder.parameters(), before))
    assert lk.log_likelihood(model, fitted, x, 500, 1).item() > lk.log_likelihood(model, start, x, 500, 1).item() + 1


def test_the_ad_prior_comes_from_its_penalty():
    assert lk.ad_prior_var(0.01, 0.2) == pytest.approx(0.1)
    with pytest.raises(ConfigError, match="beta"):
        lk.ad_prior_var(0.01, 0.0)


def test_bad_sample_and_step_counts_are_one_clear_error():
    model = lk.Model(OneDimDecoder(), get_distribution("normal"), log_scale=-3.0)
    x = torch.zeros(1, 1, 28, 28, dtype=torch.uint8)
    with pytest.raises(ConfigError, match="likelihood samples"):
        lk.log_likelihood(model, lk.Proposal(torch.zeros(1, 1), torch.ones(1, 1)), x, k=0, seed=0)
    with pytest.raises(ConfigError, match="proposal steps"):
        lk.fit_proposal(model, torch.zeros(1, 1), x, steps=-1, seed=0)


def test_bits_per_dim_of_a_uniform_guess_is_eight():
    assert lk.bits_per_dim(torch.tensor([-784 * math.log(256)]), 784) == pytest.approx(8.0)


def test_images_with_and_without_a_channel_axis_score_alike_and_a_mismatch_is_refused():
    g = torch.Generator().manual_seed(0)
    mean = torch.rand(3, 1, 28, 28, generator=g)
    x = (torch.rand(3, 28, 28, generator=g) * 255).round() / 255
    assert torch.equal(lk.pixel_log_prob(x, mean, -3.0), lk.pixel_log_prob(x.view(3, 1, 28, 28), mean, -3.0))
    with pytest.raises(ConfigError, match="differ"):
        lk.pixel_log_prob(x[:2], mean, -3.0)
