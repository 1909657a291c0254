"""Sample quality (FD, KID, PRDC, evaluator shares, memorisation) and latent probes, on hand-checkable inputs."""
import dataclasses

import pytest
import torch
from torch import nn

from helpers import StandIn
from vadlib.core.distributions import get_distribution
from vadlib.infra.config import QualityConfig
from vadlib.infra.errors import DivergenceError
from vadlib.measure.probes import active_units, knn_probe, latent_quality, pixel_knn_accuracy
from vadlib.measure.samples import (
    KEYS, class_shares, frechet_distance, kernel_distance, nn_distance, prdc_metrics, prdc_on_device, reference_set,
    sample_quality,
)

CFG = QualityConfig(nearest_k=3, confidence=0.9)


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

# Hand-placed codes (k = 1; every distance below is worked out in the comments, no ties):
#   train A = (1, 0) class 0, B = (0, 1) class 1, C = (4, 4) class 1
#   test  (3, 0.5) class 0: nearest A (2.06; C 3.64, B 3.04); angle 9.5 deg, nearest angle A (0)     -> 0, 0
#         (3.5, 3) class 0: nearest C (1.12);                  angle 40.6 deg, nearest C (45)         -> 1, 1
#         (0.2, 2) class 1: nearest B (1.02);                  angle 84.3 deg, nearest B (90)         -> 1, 1
#         (5, 1)   class 0: nearest C (3.16; A 4.12);          angle 11.3 deg, nearest A (0; C 45)    -> 1, 0
# Euclidean 1-NN: 2 of 4 right; cosine 1-NN: 3 of 4. With k = 3 every test code gets the vote of all three train
# codes (class 1, 2 to 1): 1 of 4 right either way.
HAND_TRAIN = torch.tensor([[1.0, 0.0], [0.0, 1.0], [4.0, 4.0]])
HAND_TRAIN_Y = torch.tensor([0, 1, 1])
HAND_TEST = torch.tensor([[3.0, 0.5], [3.5, 3.0], [0.2, 2.0], [5.0, 1.0]])
HAND_TEST_Y = torch.tensor([0, 0, 1, 0])
HAND_ANSWERS = {("euclidean", 1): 0.5, ("cosine", 1): 0.75, ("euclidean", 3): 0.25, ("cosine", 3): 0.25}


@pytest.mark.parametrize("metric, k", list(HAND_ANSWERS))
def test_knn_probe_on_hand_placed_codes(metric, k):
    assert knn_probe(get_distribution("ad"), HAND_TRAIN, HAND_TRAIN_Y, HAND_TEST, HAND_TEST_Y, k, metric) == \
        HAND_ANSWERS[metric, k]


def test_probes_read_only_the_means():
    """Normal rows [mu, log sigma]: the means are the hand-placed codes; the log widths point the other way (they
    put each test code beside the train codes of the other class), so reading whole rows would change the answers."""
    def rows(means, labels):
        log_sigma = torch.stack([20.0 * labels, 20.0 * (1 - labels)], 1).float()
        return torch.cat([means, log_sigma], 1)

    train, test = rows(HAND_TRAIN, HAND_TRAIN_Y), rows(HAND_TEST, 1 - HAND_TEST_Y)
    normal = get_distribution("normal")
    for (metric, k), expected in HAND_ANSWERS.items():
        assert knn_probe(normal, train, HAND_TRAIN_Y, test, HAND_TEST_Y, k, metric) == expected
    out = latent_quality(normal, train, HAND_TRAIN_Y, test, HAND_TEST_Y, QualityConfig(nearest_k=1))
    assert (out["knn_accuracy"], out["knn_cosine_accuracy"]) == (0.5, 0.75)


def test_latent_quality_on_a_symmetric_line():
    """1-D codes: class 0 at -3, -2, -1 and class 1 at 1, 2, 3. By symmetry both logistic probes (standardised and
    as is) put their boundary at 0, so test codes -5 (class 0), -0.5 (class 1), 0.5 (class 1), 4 (class 1) get
    0, 0, 1, 1: 3 of 4. 1-NN: -5 -> -3 (0), -0.5 -> -1 (0), 0.5 -> 1 (1), 4 -> 3 (1): 3 of 4; cosine 1-NN reads the
    sign alone: the same 3 of 4. One dimension is its own mean variance: active at a relative threshold of 0.99, not
    at 1 (the variance must exceed it)."""
    train, ytr = torch.tensor([[-3.0], [-2.0], [-1.0], [1.0], [2.0], [3.0]]), torch.tensor([0, 0, 0, 1, 1, 1])
    test, yte = torch.tensor([[-5.0], [-0.5], [0.5], [4.0]]), torch.tensor([0, 1, 1, 1])
    ad = get_distribution("ad")
    out = latent_quality(ad, train, ytr, test, yte, QualityConfig(nearest_k=1, active_threshold=0.99))
    assert out == {"knn_accuracy": 0.75, "knn_cosine_accuracy": 0.75, "logreg_accuracy": 0.75,
                   "logreg_unscaled_accuracy": 0.75, "active_units": 1}
    assert type(out["active_units"]) is int
    assert latent_quality(ad, train, ytr, test, yte, QualityConfig(nearest_k=1, active_threshold=1.0))[
        "active_units"] == 0


def test_standardising_lifts_a_near_constant_direction_the_unscaled_probe_leaves_alone():
    """The class sits in a dimension that barely varies (scale 1e-3), the other dimension is large noise. Standardised,
    the tiny dimension becomes as loud as the other and the logistic probe reads the class perfectly; as is, the L2
    penalty keeps its weight small and the probe guesses (the AD's ~90 near-zero directions are such dimensions)."""
    gen = torch.Generator().manual_seed(0)

    def codes(n):
        y = torch.arange(n) % 2
        return torch.stack([(y * 2 - 1) * 1e-3, 5 * torch.randn(n, generator=gen)], 1), y

    (tr, ytr), (te, yte) = codes(400), codes(400)
    out = latent_quality(get_distribution("ad"), tr, ytr, te, yte, CFG)
    assert out["logreg_accuracy"] == 1.0
    assert out["logreg_unscaled_accuracy"] < 0.6


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
    assert active_units(means, 0.01) == 2  # mean variance 0.273: threshold 0.00273 lies between .0025 and .09
    assert active_units(means, 0.001) == 3


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_active_units_are_relative_to_the_codes_own_scale(scale):
    """The AD's code scale is arbitrary: rescaling the codes must not change the count (an absolute threshold of
    0.01 would count 0 units at 1e-3 and 3 at 1e3)."""
    means = torch.randn(500, 4, generator=torch.Generator().manual_seed(0)) * torch.tensor([1.0, 0.3, 0.05, 0.0])
    assert active_units(means * scale, 0.01) == 2
    assert latent_quality(get_distribution("ad"), means, torch.arange(500) % 4, means, torch.arange(500) % 4,
                          CFG)["active_units"] == 2



def two_halves(points):
    """Images whose top half is x / 5 and bottom half y / 5: Euclidean distances between images are the points'
    times sqrt(392) / 5 and their angles are the points' angles, so the hand-placed answers carry over to pixels."""
    x = torch.zeros(len(points), 1, 28, 28)
    x[:, 0, :14] = points[:, 0, None, None] / 5
    x[:, 0, 14:] = points[:, 1, None, None] / 5
    return x


def test_pixel_knn_accuracy_on_hand_placed_images():
    train, test = two_halves(HAND_TRAIN), two_halves(HAND_TEST)
    for (metric, k), expected in HAND_ANSWERS.items():
        assert pixel_knn_accuracy(train, HAND_TRAIN_Y, test, HAND_TEST_Y, k, metric) == expected
    as_uint8 = (two_halves(HAND_TRAIN) * 255).round().to(torch.uint8)  # the stage passes uint8 images: any scale
    assert pixel_knn_accuracy(as_uint8, HAND_TRAIN_Y, (test * 255).round().to(torch.uint8), HAND_TEST_Y, 1) == 0.5


class PointNet(nn.Module):
    """A one-feature evaluator: an image's feature is its first pixel, so hand-placed points on a line go in as images
    (the other pixels are 0, so pixel distances equal feature distances); it recognises nothing."""

    num_features = 1

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def features(self, x01):
        return x01.flatten(1)[:, :1]

    def classifier(self, f):
        return torch.zeros(len(f), 10)


def on_a_line(*values):
    x = torch.zeros(len(values), 1, 28, 28)
    x[:, 0, 0, 0] = torch.tensor(values)
    return x


# Points on a line, k = 1 (no distance equals a radius):
#   real 0, 1, 3, 7: nearest-real radii 1, 1, 2, 4
#   fake 0.8, 1.5, 9, 12: nearest-fake radii 0.7, 0.7, 3, 3
#   precision: 0.8 (ball of 0), 1.5 (of 1), 9 (of 7) lie in a real ball, 12 in none          -> 3/4
#   recall: real 1 lies in 0.8's ball (0.2 < 0.7), 7 in 9's (2 < 3); 0 and 3 in none           -> 2/4
#   density: real balls holding 0.8: of 0, 1; 1.5: of 1, 3; 9: of 7; 12: none -> 5 / (k * 4)   -> 1.25
#   coverage: nearest fakes 0.8, 0.8, 1.5, 9 at 0.8, 0.2, 1.5, 2 < radii 1, 1, 2, 4          -> 4/4
REAL_LINE, FAKE_LINE = (0.0, 1.0, 3.0, 7.0), (0.8, 1.5, 9.0, 12.0)
PRDC_BY_HAND = {"precision": 0.75, "recall": 0.5, "density": 1.25, "coverage": 1.0}


def test_prdc_on_hand_placed_points():
    line = lambda values: torch.tensor(values, dtype=torch.float64)[:, None]  # noqa: E731
    assert prdc_metrics(line(REAL_LINE), line(FAKE_LINE), nearest_k=1) == PRDC_BY_HAND
    # the two sets swapped: precision and recall trade places
    swapped = prdc_metrics(line(FAKE_LINE), line(REAL_LINE), nearest_k=1)
    assert (swapped["precision"], swapped["recall"]) == (0.5, 0.75)


# train 2.5, -1, 10: nearest-train distances of the reals 0, 1, 3, 7 are 1, 1.5, 0.5, 3 (mean 1.5; of the first two
# 1.25); of the fakes 0.8, 1.5, 9, 12, 0.1, 2.9, 3.1, 6.9 they are 1.7, 1, 1, 2, 1.1, 0.4, 0.6, 3.1 (mean 1.3625)
TRAIN_LINE = (2.5, -1.0, 10.0)


def test_reference_knn_scores_use_the_first_n_real_images():
    net, real, train = PointNet(), on_a_line(*REAL_LINE), on_a_line(*TRAIN_LINE)
    full, part = reference_set(net, real, train), reference_set(net, real, train, n_real=2)
    everything = reference_set(net, real, train, n_real=1000)  # more than there are: all of them
    assert full.nn_feature == full.nn_pixel == everything.nn_feature == everything.nn_pixel == pytest.approx(1.5)
    assert part.nn_feature == part.nn_pixel == pytest.approx(1.25)
    assert torch.equal(part.feats, full.feats) and part.feats.flatten().tolist() == list(REAL_LINE)  # FD, KID: all
    assert (part.n_knn, full.n_knn, everything.n_knn) == (2, 4, 4)  # PRDC compares with feats[:n_knn]


def test_prdc_compares_equal_sized_sets_when_there_are_more_samples_than_real_images():
    """Eight fakes against four reals: PRDC sees the first four fakes (the hand-worked answer above; the last four
    lie beside the reals and would raise precision to 7/8), the nearest-train distance all eight."""
    net, real, train = PointNet(), on_a_line(*REAL_LINE), on_a_line(*TRAIN_LINE)
    fake = on_a_line(*FAKE_LINE, 0.1, 2.9, 3.1, 6.9)
    scores = sample_quality(net, fake, reference_set(net, real, train), QualityConfig(nearest_k=1), seed=0)
    assert {k: scores[k] for k in PRDC_BY_HAND} == PRDC_BY_HAND
    assert scores["nn_train_distance"] == scores["nn_train_pixel_distance"] == pytest.approx(1.3625)
    assert scores["nn_train_ratio"] == scores["nn_train_pixel_ratio"] == pytest.approx(1.3625 / 1.5)
    assert (scores["recognisable"], scores["min_class_share"]) == (0.0, 0.0)  # all argmax class 0, at p = 0.1


@pytest.mark.parametrize("n_real, n_fake, k", [(120, 120, 3), (150, 90, 5)])
def test_prdc_on_device_matches_the_prdc_package(n_real, n_fake, k):
    """The GPU path's torch PRDC, run here on the CPU, against `prdc.compute_prdc` on shifted, partly overlapping
    clouds (every score strictly between 0 and 1, so a flipped comparison or radius would show)."""
    gen = torch.Generator().manual_seed(3)
    real = torch.randn(n_real, 8, generator=gen, dtype=torch.float64)
    fake = torch.randn(n_fake, 8, generator=gen, dtype=torch.float64) * 1.3 + 0.4
    ours, package = prdc_on_device(real, fake, k), prdc_metrics(real, fake, k)
    assert all(0 < package[key] < 1 for key in ("precision", "recall", "coverage"))
    assert ours == pytest.approx(package, abs=1e-12)
