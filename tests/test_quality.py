"""Sample quality (FD, KID, PRDC, evaluator shares, memorisation) and latent probes, on hand-checkable inputs."""
import dataclasses

import pytest
import torch
from torch import nn

from vadlib.core.distributions import get_distribution
from vadlib.infra.config import QualityConfig
from vadlib.infra.errors import DivergenceError
from vadlib.workflows.probes import active_units, knn_probe, latent_quality, pixel_knn_accuracy
from vadlib.workflows.quality import (
    KEYS, class_shares, frechet_distance, kernel_distance, nn_distance, prdc_metrics, reference_set, sample_quality,
)

CFG = QualityConfig(nearest_k=3, confidence=0.9)


class StandIn(nn.Module):
    """EvaluatorNet's interface (features, classifier). An image's first 10 pixels are its class probabilities:
    they lead the features as log p and the classifier reads them back (softmax(log p) = p), so a hand-made
    probability matrix goes in as images; the other features are a fixed projection of all pixels."""

    num_features = 18

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(784, 8)
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(8, 784, generator=torch.Generator().manual_seed(0)) / 28)
            self.proj.bias.zero_()

    def features(self, x01):
        flat = x01.flatten(1)
        return torch.cat([flat[:, :10].clamp_min(1e-12).log(), self.proj(flat)], dim=1)

    def classifier(self, f):
        return f[:, :10]

    def forward(self, x01):
        return self.classifier(self.features(x01))


def score(fake, real, train, cfg=None, net=None):
    net = net or StandIn()
    return sample_quality(net, fake, reference_set(net, real, train), cfg or CFG, seed=0)


def images(n, seed):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def with_probs(probs, seed=0):
    x = images(len(probs), seed)
    x.view(len(probs), -1)[:, :10] = probs
    return x


def feats(n=300, d=4, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# --- Frechet and kernel distances -----------------------------------------------------------------------------

def test_fd_is_zero_for_identical_sets_and_the_squared_shift_for_shifted_ones():
    f = feats()
    assert abs(frechet_distance(f, f)) < 1e-8
    shift = torch.tensor([1.0, 2.0, 0.0, -2.0], dtype=torch.float64)  # |d|^2 = 9; covariances equal
    assert frechet_distance(f, f + shift) == pytest.approx(9.0, rel=1e-6)


def test_fd_sees_a_change_of_spread():
    f = feats()
    m, cov = f.mean(0), torch.cov(f.T)
    # N(m, C) vs N(2m, 4C): |m|^2 + tr(C) + tr(4C) - 2 tr(2C) = |m|^2 + tr(C)
    assert frechet_distance(f, 2 * f) == pytest.approx(float(m.pow(2).sum() + cov.trace()), rel=1e-6)


def test_kid_is_about_zero_for_the_same_distribution_and_grows_with_a_shift():
    f = feats()
    # another draw: the unbiased MMD^2 is ~0 (noise ~0.03 here), while a mean shift of 0.3 already gives ~0.3
    assert abs(kernel_distance(f, feats(seed=1), seed=0)) < 0.1
    assert kernel_distance(f, feats(seed=1) + 0.3, seed=0) > 0.2
    assert kernel_distance(f, f + 1.0, seed=0) > 5


def test_kid_of_a_set_with_itself_is_the_unbiased_estimators_small_negative_bias():
    """Unbiased MMD^2 of X with X is 2/(m-1) * (mean K - mean diag K), K = (x.y/d + 1)^3: not 0, but O(1/m)."""
    f = feats()
    k = (f @ f.T / f.shape[1] + 1) ** 3
    expected = 2 / (len(f) - 1) * float(k.mean() - k.diag().mean())
    assert kernel_distance(f, f, seed=0) == pytest.approx(expected, rel=1e-9)
    assert abs(expected) < 0.1


def test_kid_subsets_are_reproducible_and_leave_the_global_rng_alone():
    real, fake = feats(n=120), feats(n=90, seed=1) + 0.3  # unequal sizes: 50 random subsets of 90
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    a = kernel_distance(real, fake, seed=0)
    assert torch.equal(torch.rand(2), expected)
    assert kernel_distance(real, fake, seed=0) == a
    assert kernel_distance(real, fake, seed=1) != a


# --- precision / recall / density / coverage ------------------------------------------------------------------

def test_prdc_is_near_zero_for_disjoint_clouds_and_high_for_the_same_cloud(capsys):
    real = feats(200)
    far = prdc_metrics(real, feats(200, seed=1) + 20.0, nearest_k=3)
    near = prdc_metrics(real, feats(200, seed=1), nearest_k=3)
    assert capsys.readouterr().out == ""  # prdc's progress line is silenced
    assert set(far) == {"precision", "recall", "density", "coverage"}
    assert all(v == 0.0 for v in far.values())
    assert near["precision"] > 0.8 and near["recall"] > 0.8 and near["coverage"] > 0.8 and near["density"] > 0.6


def test_prdc_precision_and_recall_separate_quality_from_diversity():
    """Fakes collapsed onto a corner of the real cloud: precise but with poor recall."""
    real = feats(300)
    collapsed = feats(300, seed=1) * 0.05 + real[0]
    out = prdc_metrics(real, collapsed, nearest_k=3)
    assert out["precision"] > 0.9
    assert out["recall"] < 0.1 and out["coverage"] < 0.1


# --- evaluator-based shares ----------------------------------------------------------------------------------

def hand_probs():
    """20 rows, argmax class i % 10 except row 19 (class 0 instead of 9); even rows confident (0.95)."""
    rows = []
    for i in range(20):
        top = 0.95 if i % 2 == 0 else 0.5
        p = torch.full((10,), (1 - top) / 9)
        p[0 if i == 19 else i % 10] = top
        rows.append(p)
    return torch.stack(rows)


def test_class_shares_on_a_hand_made_matrix():
    shares = class_shares(hand_probs())
    assert len(shares) == 10 and sum(shares) == pytest.approx(1.0)
    assert shares[0] == pytest.approx(0.15) and shares[9] == pytest.approx(0.05)
    assert shares[1] == pytest.approx(0.1)


def test_sample_quality_recognisable_and_min_class_share():
    out = score(with_probs(hand_probs()), images(40, 1), images(60, 2))
    assert out["recognisable"] == pytest.approx(0.5)
    assert out["min_class_share"] == pytest.approx(0.05)
    strict = score(with_probs(hand_probs()), images(40, 1), images(60, 2), dataclasses.replace(CFG, confidence=0.96))
    assert strict["recognisable"] == 0.0


def test_sample_quality_keys_types_determinism_and_reference():
    real, train, held = images(40, 1), images(60, 2), images(30, 3)
    fake = images(30, 4) * 0.5
    out = score(fake, real, train)
    assert tuple(out) == KEYS and all(type(v) is float for v in out.values())
    assert out == score(fake, real, train)
    ref = score(held, real, train)  # the `real` row: held-out real images scored like samples
    assert tuple(ref) == KEYS
    assert ref["fd"] < out["fd"] and ref["kid"] < out["kid"]  # darkened fakes are worse than held-out reals


# --- memorisation -----------------------------------------------------------------------------------------------

def test_nn_distance_is_the_pixel_distance_to_the_nearest_training_image():
    train = torch.zeros(3, 1, 28, 28)
    train[1] += 1.0
    x = torch.full((2, 1, 28, 28), 0.25)
    x[1] = 0.9
    assert nn_distance(x, train) == pytest.approx((0.25 * 28 + 0.1 * 28) / 2)


def test_nn_train_ratios_are_one_for_new_images_and_zero_for_copies_in_both_spaces():
    real, train = images(40, 1), images(60, 2)
    fresh, copies = score(images(40, 3), real, train), score(train[:40], real, train)
    assert 0.95 < fresh["nn_train_ratio"] < 1.05 and 0.95 < fresh["nn_train_pixel_ratio"] < 1.05
    assert copies["nn_train_ratio"] < 1e-3 and copies["nn_train_distance"] < 1e-3
    assert copies["nn_train_pixel_ratio"] < 1e-3 and copies["nn_train_pixel_distance"] < 1e-3


def test_nn_distance_works_on_feature_rows_too():
    train = torch.tensor([[0.0, 0.0], [3.0, 4.0]], dtype=torch.float64)
    assert nn_distance(torch.tensor([[3.0, 4.0], [0.0, 1.0]]), train) == pytest.approx(0.5)


def test_nan_images_raise_divergence_error():
    fake = images(30, 4)
    fake[3, 0, 5, 5] = float("nan")
    with pytest.raises(DivergenceError, match="fake_images"):
        score(fake, images(40, 1), images(60, 2))


# --- latent probes -----------------------------------------------------------------------------------------------

def labelled_codes(n, seed, signal_in_mean=True):
    """Normal rows [mu, log sigma] of dim 6; class c shifts dim c by 4 in mu (or in log sigma)."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    params = torch.randn(n, 12, generator=gen)
    params[torch.arange(n), labels + (0 if signal_in_mean else 6)] += 4.0
    return params, labels


def test_probes_are_accurate_on_separable_code_means():
    dist = get_distribution("normal")
    (tr, ytr), (te, yte) = labelled_codes(200, 0), labelled_codes(200, 1)
    out = latent_quality(dist, tr, ytr, te, yte, CFG)
    assert set(out) == {"knn_accuracy", "knn_cosine_accuracy", "logreg_accuracy", "active_units"}
    assert out["knn_accuracy"] > 0.9 and out["knn_cosine_accuracy"] > 0.9 and out["logreg_accuracy"] > 0.9
    for key, metric in (("knn_accuracy", "euclidean"), ("knn_cosine_accuracy", "cosine")):  # the probe alone
        assert knn_probe(dist, tr, ytr, te, yte, CFG.nearest_k, metric) == out[key]
    assert type(out["active_units"]) is int and out["active_units"] == 6


def test_probes_read_only_the_means_and_are_at_chance_without_signal():
    dist = get_distribution("normal")
    (tr, ytr), (te, yte) = labelled_codes(200, 0, False), labelled_codes(200, 1, False)
    out = latent_quality(dist, tr, ytr, te, yte, CFG)
    assert max(out["knn_accuracy"], out["knn_cosine_accuracy"], out["logreg_accuracy"]) < 0.4  # chance is 0.25


def test_cosine_knn_reads_the_direction_euclidean_the_position():
    """Class = direction (two rays 0.6 rad apart); the length is a nuisance that swaps between train and test."""
    dist = get_distribution("ad")
    gen = torch.Generator().manual_seed(0)

    def rays(n, long_class):
        labels = torch.arange(n) % 2
        angle = labels * 0.6 + 0.05 * torch.randn(n, generator=gen)
        radius = torch.where(labels == long_class, 10.0, 1.0)
        return torch.stack([angle.cos(), angle.sin()], 1) * radius[:, None], labels

    (tr, ytr), (te, yte) = rays(200, 0), rays(200, 1)
    out = latent_quality(dist, tr, ytr, te, yte, CFG)
    assert out["knn_cosine_accuracy"] == 1.0
    assert out["knn_accuracy"] < 0.1  # the nearest train codes by position have the other class's length


def test_active_units_counts_dims_whose_means_vary():
    gen = torch.Generator().manual_seed(0)
    means = torch.randn(500, 4, generator=gen) * torch.tensor([1.0, 0.3, 0.05, 0.0])  # variances 1, .09, .0025, 0
    assert active_units(means, 0.01) == 2
    assert active_units(means, 0.001) == 3
    assert latent_quality(get_distribution("ad"), means, torch.arange(500) % 4, means, torch.arange(500) % 4,
                          CFG)["active_units"] == 2


def test_pixel_knn_accuracy():
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(80) % 2
    x = torch.rand(80, 1, 28, 28, generator=gen) * 0.3
    x[labels == 1, :, :14] += 0.7  # class 1: bright top half
    assert pixel_knn_accuracy(x[:40], labels[:40], x[40:], labels[40:], 3) == 1.0
    assert pixel_knn_accuracy(x[:40], labels[:40], x[40:], labels[40:], 3, "cosine") == 1.0
    shuffled = labels[torch.randperm(80, generator=gen)]
    assert pixel_knn_accuracy(x[:40], shuffled[:40], x[40:], shuffled[40:], 3) < 0.8


def test_reference_knn_scores_use_the_first_n_real_images():
    net, real, train = StandIn(), images(40, 1), images(60, 2)
    full, part = reference_set(net, real, train), reference_set(net, real, train, n_real=10)
    everything = reference_set(net, real, train, n_real=1000)  # more than there are: all of them
    assert (everything.nn_pixel, everything.nn_feature) == (full.nn_pixel, full.nn_feature)
    assert part.nn_pixel == pytest.approx(nn_distance(real[:10], train))
    assert torch.equal(part.feats, full.feats)  # FD and KID still see every real image
    assert (part.n_knn, full.n_knn, everything.n_knn) == (10, 40, 40)  # PRDC compares with feats[:n_knn]


def test_prdc_compares_equal_sized_sets_when_there_are_more_samples_than_real_images():
    net, real, train = StandIn(), images(40, 1), images(60, 2)
    ref, fake = reference_set(net, real, train), images(200, 3)
    scores = sample_quality(net, fake, ref, CFG, seed=0)
    with torch.no_grad():
        fake_feats = net.features(fake).double()
    expected = prdc_metrics(ref.feats, fake_feats[:40], CFG.nearest_k)
    assert {k: scores[k] for k in expected} == pytest.approx(expected)
    assert expected != prdc_metrics(ref.feats, fake_feats, CFG.nearest_k)  # all 200 would give other values
    assert scores["nn_train_distance"] == pytest.approx(nn_distance(fake_feats, ref.train_feats))
