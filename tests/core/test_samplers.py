"""Code samplers: the registry contract for every (sampler, distribution) pair, and that each draws what it claims."""
import dataclasses

import numpy as np
import pytest
import torch

from vadlib.core.distributions import REGISTRY as DISTRIBUTIONS
from vadlib.core.distributions import get_distribution
from vadlib.core.samplers import REGISTRY, get_sampler
from vadlib.infra.config import SamplersConfig
from vadlib.infra.errors import ConfigError

CFG = SamplersConfig(gmm_components=3)


def cfg(**changes):
    return dataclasses.replace(CFG, **changes)


def params_for(dist_name, n=40, dim=3, width=0.1, seed=0):
    return get_distribution(dist_name).init(n, dim, 1.0, width, torch.Generator().manual_seed(seed))


def labels_for(n=40, classes=2):
    return torch.arange(n) % classes


def draw(sampler, n, seed):
    return sampler.sample(n, torch.Generator().manual_seed(seed))


def two_clusters(n=200, dim=2, gap=10.0, seed=0):
    """AD codes around (-gap, 0, ...) and (+gap, 0, ...), spread 0.3."""
    gen = torch.Generator().manual_seed(seed)
    codes = torch.randn(n, dim, generator=gen) * 0.3
    codes[:, 0] += torch.where(torch.arange(n) % 2 == 0, -gap, gap)
    return codes


def test_registry_names_and_fresh_instances():
    assert set(REGISTRY) == {"prior", "gaussian", "gmm", "class_gmm", "posterior"}
    assert get_sampler("gmm") is not get_sampler("gmm")
    titles = [cls.title for cls in REGISTRY.values()]
    assert all(titles) and len(set(titles)) == len(titles)  # every sample grid gets its own caption


@pytest.mark.parametrize("dist_name", sorted(DISTRIBUTIONS))
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_sampler_works_for_every_distribution(name, dist_name):
    dist = get_distribution(dist_name)
    sampler = get_sampler(name).fit(dist, params_for(dist_name), CFG, seed=0, labels=labels_for())
    torch.manual_seed(0)
    a = draw(sampler, 64, 1)
    torch.manual_seed(1)  # the global RNG must not matter, only the generator
    b, c = draw(sampler, 64, 1), draw(sampler, 64, 2)
    assert a.shape == (64, 3) and a.dtype == torch.float32 and a.device.type == "cpu"
    assert torch.isfinite(a).all()
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_sampling_leaves_the_global_rng_alone(name):
    dist = get_distribution("normal")
    sampler = get_sampler(name).fit(dist, params_for("normal"), CFG, seed=0, labels=labels_for())
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    draw(sampler, 16, 5)
    assert torch.equal(torch.rand(3), expected)


def test_prior_std_is_the_temperature():
    sampler = get_sampler("prior").fit(get_distribution("normal"), params_for("normal", dim=2), cfg(temperature=0.5), 0)
    z = draw(sampler, 20000, 0)
    assert z.mean(0).abs().max() < 0.02
    assert torch.allclose(z.std(0), torch.full((2,), 0.5), atol=0.02)


def test_gaussian_is_mean_plus_cholesky_of_the_code_covariance_and_matches_it():
    """The draw is exactly mu + eps @ chol(cov + ridge I).T for the generator's eps (the AD sampler the course used),
    and many draws reproduce the codes' mean and covariance."""
    codes = torch.randn(500, 3, generator=torch.Generator().manual_seed(0)) @ torch.tensor(
        [[2.0, 0.0, 0.0], [1.0, 0.5, 0.0], [0.0, 0.0, 0.1]]) + torch.tensor([1.0, -2.0, 3.0])
    dist = get_distribution("ad")
    sampler = get_sampler("gaussian").fit(dist, codes, CFG, 0)
    ours = draw(sampler, 100, 7)
    chol = torch.linalg.cholesky(torch.cov(codes.T) + 1e-5 * torch.eye(3))
    explicit = codes.mean(0) + torch.randn(100, 3, generator=torch.Generator().manual_seed(7)) @ chol.T
    assert torch.allclose(ours, explicit, atol=1e-4)
    many = draw(sampler, 20000, 0)
    assert torch.allclose(many.mean(0), codes.mean(0), atol=0.05)
    assert torch.allclose(torch.cov(many.T), torch.cov(codes.T), atol=0.1)


def test_gaussian_fits_the_means_not_the_whole_row():
    dist = get_distribution("normal")
    params = params_for("normal", n=200, dim=2)
    params[:, 2:] = 5.0  # log sigma: huge widths must not leak into the fitted density
    z = draw(get_sampler("gaussian").fit(dist, params, CFG, 0), 5000, 0)
    assert torch.allclose(z.std(0), dist.mean(params).std(0), rtol=0.1)


@pytest.mark.parametrize("covariance", ["full", "tied", "diag", "spherical"])
def test_gmm_lands_on_both_clusters_and_never_between(covariance):
    codes = two_clusters()
    sampler = get_sampler("gmm").fit(get_distribution("ad"), codes, cfg(gmm_components=2, gmm_covariance=covariance), 0)
    z = draw(sampler, 2000, 0)
    near = torch.cdist(z, torch.tensor([[-10.0, 0.0], [10.0, 0.0]])).min(dim=1).values
    assert near.max() < 2.5
    assert 0.4 < (z[:, 0] > 0).double().mean() < 0.6


def test_one_gaussian_would_fill_the_gap_the_gmm_leaves_empty():
    """The check above can fail: a single Gaussian on the same codes puts samples between the clusters."""
    z = draw(get_sampler("gaussian").fit(get_distribution("ad"), two_clusters(), CFG, 0), 2000, 0)
    assert (z[:, 0].abs() < 5).double().mean() > 0.2


def test_gmm_temperature_shrinks_each_component_around_its_own_mean():
    codes = two_clusters()
    sampler = get_sampler("gmm").fit(get_distribution("ad"), codes, cfg(gmm_components=2, temperature=0.01), 0)
    z = draw(sampler, 500, 0)
    assert (z[:, 0].abs() - 10).abs().max() < 0.1  # centred on the clusters, not on 0


def test_gmm_in_pca_space_fills_the_dropped_directions_with_their_mean():
    codes = torch.cat([two_clusters(dim=1), torch.full((200, 3), 3.0)], dim=1)
    codes[:, 1:] += torch.randn(200, 3, generator=torch.Generator().manual_seed(1)) * 1e-3
    sampler = get_sampler("gmm").fit(get_distribution("ad"), codes, cfg(gmm_components=2, gmm_pca_dim=1), 0)
    z = draw(sampler, 1000, 0)
    assert ((z[:, 0].abs() - 10).abs() < 2).all()
    assert torch.allclose(z[:, 1:], codes[:, 1:].mean(0).expand(1000, 3), atol=0.01)


def test_gmm_is_fitted_to_the_code_means():
    dist = get_distribution("uniform")
    params = torch.cat([two_clusters(), torch.full((200, 2), 2.0)], dim=1)  # centres; log half-widths of 2
    z = draw(get_sampler("gmm").fit(dist, params, cfg(gmm_components=2), 0), 1000, 0)
    assert torch.cdist(z, torch.tensor([[-10.0, 0.0], [10.0, 0.0]])).min(dim=1).values.max() < 2.5


def test_posterior_stays_inside_a_uniform_rows_box():
    dist = get_distribution("uniform")
    params = params_for("uniform", n=30, dim=4, width=0.05)
    a, b = dist.bounds(params)
    for temperature in (1.0, 0.5):
        z = draw(get_sampler("posterior").fit(dist, params, cfg(temperature=temperature), 0), 300, 0)
        inside = ((z[:, None] >= a[None] - 1e-6) & (z[:, None] <= b[None] + 1e-6)).all(-1)  # [300, 30]
        assert inside.any(1).all()


def test_posterior_draws_are_near_a_row_mean_and_spread_by_the_width():
    dist = get_distribution("normal")
    params = params_for("normal", n=30, dim=4, width=1e-3)
    z = draw(get_sampler("posterior").fit(dist, params, CFG, 0), 300, 0)
    assert torch.cdist(z, dist.mean(params)).min(dim=1).values.max() < 0.02
    assert not torch.isin(z, dist.mean(params)).all()  # a real draw, not the means replayed


def test_posterior_replays_ad_codes_and_covers_many_rows():
    codes = params_for("ad", n=30)
    z = draw(get_sampler("posterior").fit(get_distribution("ad"), codes, cfg(temperature=0.3), 0), 300, 0)
    matches = (z[:, None] == codes[None]).all(-1)
    assert matches.sum(1).eq(1).all()
    assert matches.any(0).sum() > 20


def test_gmm_beyond_max_codes_fits_a_seeded_subsample_and_below_it_uses_every_code():
    codes, ad = two_clusters(n=400), get_distribution("ad")

    def fit(max_codes):
        sampler = get_sampler("gmm")
        sampler.max_codes = max_codes
        return sampler.fit(ad, codes, cfg(gmm_components=2), 0)

    capped, again = fit(100), fit(100)
    assert torch.equal(capped.centres, again.centres)  # the subsample is a function of the seed
    assert ((capped.centres[:, 0].abs() - 10).abs() < 0.5).all()  # still finds both clusters
    full, default = fit(400), get_sampler("gmm").fit(ad, codes, cfg(gmm_components=2), 0)  # default: 10,000
    assert torch.equal(full.centres, default.centres) and not torch.equal(full.centres, capped.centres)


def cluster_labels(codes):
    return (codes[:, 0] > 0).long()


def test_class_gmm_keeps_every_component_inside_one_class():
    """With one component in all, the plain GMM covers both clusters with one wide Gaussian and fills the gap; the
    class-conditional one gives each class its own component (at least one each) and never draws between them."""
    codes, ad = two_clusters(), get_distribution("ad")
    plain = draw(get_sampler("gmm").fit(ad, codes, cfg(gmm_components=1), 0), 2000, 0)
    assert (plain[:, 0].abs() < 5).double().mean() > 0.2
    per_class = get_sampler("class_gmm").fit(ad, codes, cfg(gmm_components=1), 0, labels=cluster_labels(codes))
    assert per_class.centres.shape == (2, 2)
    z = draw(per_class, 2000, 0)
    assert torch.cdist(z, torch.tensor([[-10.0, 0.0], [10.0, 0.0]])).min(dim=1).values.max() < 2.5


def test_class_gmm_draws_classes_by_frequency_and_splits_components_by_count():
    codes = two_clusters(n=400)
    labels = torch.zeros(400, dtype=torch.long)
    labels[(codes[:, 0] > 0).nonzero().squeeze(1)[:50]] = 1  # class 1: 50 codes on the right
    labels[(codes[:, 0] > 0).nonzero().squeeze(1)[50:]] = 2  # class 2: the other 150 on the right
    sampler = get_sampler("class_gmm").fit(get_distribution("ad"), codes, cfg(gmm_components=8), 0, labels=labels)
    assert sampler.centres.shape[0] == 4 + 1 + 3  # 8 x (200, 50, 150) / 400
    shares = [sampler.weights[:4].sum(), sampler.weights[4:5].sum(), sampler.weights[5:].sum()]  # in class order
    assert torch.allclose(torch.stack(shares), torch.tensor([0.5, 0.125, 0.375], dtype=torch.float64))
    z = draw(sampler, 4000, 0)
    assert abs((z[:, 0] > 0).double().mean().item() - 0.5) < 0.03  # classes 1 and 2 together: the right cluster


def test_class_gmm_names_the_missing_labels():
    with pytest.raises(ConfigError, match="class_gmm.*labels"):
        get_sampler("class_gmm").fit(get_distribution("ad"), two_clusters(), CFG, 0)
    with pytest.raises(ConfigError, match="3 labels for 200 codes"):
        get_sampler("class_gmm").fit(get_distribution("ad"), two_clusters(), CFG, 0, labels=torch.zeros(3))
    sampler = get_sampler("class_gmm")
    sampler.max_codes = 100  # checked before the subsample, which would otherwise index past the labels
    with pytest.raises(ConfigError, match="150 labels for 200 codes"):
        sampler.fit(get_distribution("ad"), two_clusters(), CFG, 0, labels=torch.zeros(150))


def test_class_gmm_subsample_keeps_labels_with_their_codes():
    codes = two_clusters(n=400)
    sampler = get_sampler("class_gmm")
    sampler.max_codes = 100
    sampler.fit(get_distribution("ad"), codes, cfg(gmm_components=2), 0, labels=cluster_labels(codes))
    assert sampler.centres.shape[0] == 2
    assert ((sampler.centres[:, 0].abs() - 10).abs() < 0.5).all()  # one per cluster: labels were not shuffled
    assert sampler.centres[:, 0].sign().sum() == 0


# --- draws against the density each sampler fits ------------------------------------------------------------------
# Every expected mean and covariance below is written from the density's definition (numpy on the codes), not read
# from the fitted sampler; 40,000 draws put the sample moments within a few standard errors of them.

N_DRAWS = 40_000


def assert_moments(z, mean, cov):
    """Sample mean within 5 standard errors per dimension; every covariance entry within 5% of sqrt(C_ii C_jj) (about
    5 standard errors for Gaussian draws, 4 for Laplace ones at this many draws)."""
    z = z.double().numpy()
    mean, cov = np.asarray(mean, dtype=float), np.asarray(cov, dtype=float)
    scale = np.sqrt(np.diag(cov))
    assert np.all(np.abs(z.mean(0) - mean) <= 5 * scale / np.sqrt(len(z))), (z.mean(0), mean)
    assert np.all(np.abs(np.cov(z.T) - cov) <= 0.05 * np.outer(scale, scale)), (np.cov(z.T), cov)


def correlated(n, centre, mixing, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, len(centre), generator=gen) @ torch.tensor(mixing) + torch.tensor(centre)


MIXING = [[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.0, -0.5, 0.3]]
CODES = correlated(300, [1.0, -2.0, 0.5], MIXING, seed=3)


def mle_cov(x):
    return np.cov(np.asarray(x, dtype=float).T, bias=True)


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_prior_draws_have_the_moments_of_n_0_t2_i(temperature):
    settings = cfg(temperature=temperature)
    sampler = get_sampler("prior").fit(get_distribution("normal"), params_for("normal"), settings, 0)
    assert_moments(draw(sampler, N_DRAWS, 0), np.zeros(3), temperature**2 * np.eye(3))


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_gaussian_draws_have_the_codes_mean_and_t2_times_their_covariance(temperature):
    sampler = get_sampler("gaussian").fit(get_distribution("ad"), CODES, cfg(temperature=temperature), 0)
    expected = temperature**2 * (np.cov(CODES.numpy().T) + 1e-5 * np.eye(3))
    assert_moments(draw(sampler, N_DRAWS, 0), CODES.numpy().mean(0), expected)


@pytest.mark.parametrize("covariance", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_one_component_gmm_draws_follow_the_maximum_likelihood_gaussian(covariance, temperature):
    """With one component EM lands on the codes' mean and (biased) covariance, reduced to its diagonal (`diag`) or to
    its mean variance (`spherical`), plus gmm_reg_covar on the diagonal (0.5 here, so that it shows)."""
    settings = cfg(gmm_components=1, gmm_covariance=covariance, gmm_reg_covar=0.5, temperature=temperature)
    sampler = get_sampler("gmm").fit(get_distribution("ad"), CODES, settings, 0)
    mle = mle_cov(CODES)
    shape = {"full": mle, "tied": mle, "diag": np.diag(np.diag(mle)), "spherical": np.diag(mle).mean() * np.eye(3)}
    expected = temperature**2 * (shape[covariance] + 0.5 * np.eye(3))
    assert_moments(draw(sampler, N_DRAWS, 0), CODES.numpy().mean(0), expected)


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_class_gmm_draws_follow_the_class_frequency_weighted_mixture(temperature):
    """Classes of 300 and 100 codes, one component each: the mixture of the two classes' maximum-likelihood
    Gaussians (+ gmm_reg_covar), weighted 3:1. Mixture mean sum_c p_c m_c; covariance
    sum_c p_c (T^2 C_c + m_c m_c^T) - m m^T."""
    first = correlated(300, [-2.0, 0.0, 1.0], MIXING, seed=4)
    second = correlated(100, [3.0, 1.0, -1.0], [[0.5, 0.0, 0.0], [0.0, 1.5, 0.0], [0.3, 0.0, 0.4]], seed=5)
    codes, labels = torch.cat([first, second]), torch.cat([torch.zeros(300), torch.ones(100)]).long()
    settings = cfg(gmm_components=1, gmm_reg_covar=0.2, temperature=temperature)
    sampler = get_sampler("class_gmm").fit(get_distribution("ad"), codes, settings, 0, labels=labels)
    weights = [0.75, 0.25]
    means = [x.numpy().mean(0) for x in (first, second)]
    covs = [temperature**2 * (mle_cov(x) + 0.2 * np.eye(3)) for x in (first, second)]
    mean = sum(w * m for w, m in zip(weights, means))
    cov = sum(w * (c + np.outer(m, m)) for w, m, c in zip(weights, means, covs)) - np.outer(mean, mean)
    assert_moments(draw(sampler, N_DRAWS, 0), mean, cov)


# Per-row variance of each family at its width w (sigma, half-width h, scale b): the aggregate posterior of rows i
# drawn uniformly has mean mean_i(mu_i) and covariance T^2 diag(mean_i var_i) + the (population) covariance of mu_i.
ROW_VARIANCE = {"normal": lambda w: w**2, "uniform": lambda h: h**2 / 3, "laplace": lambda b: 2 * b**2,
                "ad": lambda w: 0 * w}
ROW_MEANS = np.array([[0.0, 0.0], [2.0, -1.0], [-1.0, 3.0]])
ROW_WIDTHS = np.array([[0.5, 1.0], [1.5, 0.3], [0.8, 0.8]])


@pytest.mark.parametrize("dist_name", ["normal", "uniform", "laplace", "ad"])
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_posterior_draws_follow_the_mixture_of_the_rows_own_distributions(dist_name, temperature):
    dist = get_distribution(dist_name)
    means = torch.tensor(ROW_MEANS, dtype=torch.float32)
    params = means if dist.is_point else torch.cat([means, torch.tensor(np.log(ROW_WIDTHS), dtype=torch.float32)], 1)
    sampler = get_sampler("posterior").fit(dist, params, cfg(temperature=temperature), 0)
    within = np.diag(ROW_VARIANCE[dist_name](ROW_WIDTHS).mean(0))
    expected = temperature**2 * within + mle_cov(ROW_MEANS)
    assert_moments(draw(sampler, N_DRAWS, 0), ROW_MEANS.mean(0), expected)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_log_density_is_the_density_each_sampler_draws_from(temperature):
    """prior and gaussian against scipy's multivariate normal, the mixtures against scikit-learn's score_samples of
    the same fit (temperature 1) and against a hand-summed mixture (any temperature)."""
    from scipy.stats import multivariate_normal

    codes = two_clusters(n=120, dim=3, gap=3.0)
    dist, t, labels = get_distribution("ad"), temperature, labels_for(120)
    z = torch.randn(9, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64) * 2
    prior = get_sampler("prior").fit(dist, codes, cfg(temperature=t), 0)
    assert prior.log_density(z).numpy() == pytest.approx(
        multivariate_normal(np.zeros(3), t * t * np.eye(3)).logpdf(z.numpy()), rel=1e-10)
    gauss = get_sampler("gaussian").fit(dist, codes, cfg(temperature=t), 0)
    cov = (gauss.chol @ gauss.chol.T).numpy() * t * t
    assert gauss.log_density(z).numpy() == pytest.approx(
        multivariate_normal(gauss.mu.numpy(), cov).logpdf(z.numpy()), rel=1e-10)
    for name in ("gmm", "class_gmm"):
        mix = get_sampler(name).fit(dist, codes, cfg(temperature=t), 0, labels)
        by_hand = sum(float(w) * multivariate_normal(c.numpy(), t * t * (L @ L.T).numpy()).pdf(z.numpy())
                      for w, c, L in zip(mix.weights, mix.centres, mix.chols))
        assert mix.log_density(z).numpy() == pytest.approx(np.log(by_hand), rel=1e-9)


def test_gmm_log_density_is_scikit_learns_score():
    from sklearn.mixture import GaussianMixture

    from vadlib.infra.runtime import derive_seed

    codes = two_clusters(n=200, dim=3)
    gmm = get_sampler("gmm").fit(get_distribution("ad"), codes, CFG, 0)
    z = torch.randn(6, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 5
    reference = GaussianMixture(CFG.gmm_components, covariance_type=CFG.gmm_covariance, reg_covar=CFG.gmm_reg_covar,
                                random_state=derive_seed(0, "samplers/gmm") % 2**32).fit(codes.double().numpy())
    assert gmm.log_density(z).numpy() == pytest.approx(reference.score_samples(z.numpy()), rel=1e-9)


def test_samplers_without_a_density_in_code_space_say_so():
    codes = two_clusters(n=100, dim=4)
    dist = get_distribution("ad")
    assert get_sampler("posterior").fit(dist, codes, CFG, 0).log_density(codes) is None
    assert get_sampler("gmm").fit(dist, codes, cfg(gmm_pca_dim=2), 0).log_density(codes) is None


def test_an_unknown_sampler_is_one_clear_error_naming_the_known_ones():
    with pytest.raises(ConfigError, match=r"^samplers\.x: got 'kde', expected one of prior, gaussian, .*class_gmm"):
        get_sampler("kde", "samplers.x")
