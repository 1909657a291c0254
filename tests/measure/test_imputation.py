"""Masks, scores, uncertainty and baselines of missing-pixel imputation (vadlib/measure/imputation.py)."""
import math

import pytest
import torch

from vadlib.infra.errors import ConfigError
from vadlib.measure import imputation as imp
from vadlib.measure.reconstruction import course_loss

GEN = lambda seed=0: torch.Generator().manual_seed(seed)  # noqa: E731


@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.3, 0.5, 0.9])
def test_random_masks_hide_the_stated_share_of_every_image(ratio):
    missing = imp.random_missing(12, ratio, GEN())
    assert missing.shape == (12, 28, 28) and missing.dtype == torch.bool
    assert missing.flatten(1).sum(1).tolist() == [round(ratio * 784)] * 12


def test_random_masks_differ_between_images_and_do_not_depend_on_how_many_are_drawn():
    many, few = imp.random_missing(10, 0.5, GEN(3)), imp.random_missing(4, 0.5, GEN(3))
    assert torch.equal(many[:4], few)
    assert not torch.equal(many[0], many[1])
    assert not torch.equal(many, imp.random_missing(10, 0.5, GEN(4)))


def test_structured_masks_hide_their_region():
    n = 3
    bottom, right, centre = (imp.structured_missing(name, n) for name in ("bottom_half", "right_half", "centre_square"))
    for mask, pixels in ((bottom, 392), (right, 392), (centre, 196)):
        assert mask.shape == (n, 28, 28) and mask.flatten(1).sum(1).tolist() == [pixels] * n
    assert bottom[0, 14:].all() and not bottom[0, :14].any()
    assert right[0, :, 14:].all() and not right[0, :, :14].any()
    assert centre[0, 7:21, 7:21].all() and centre[0].sum() == 196


def test_conditions_list_the_ratios_then_the_masks_and_a_new_mask_is_one_entry():
    @imp.register_mask("top_row")
    def _top_row(side):
        m = torch.zeros(side, side, dtype=torch.bool)
        m[0] = True
        return m

    try:
        conds = imp.conditions([0.3, 0.7], ["centre_square", "top_row"], 5, seed=0)
        assert list(conds) == ["random_0.3", "random_0.7", "centre_square", "top_row"]
        assert conds["top_row"]["missing"].flatten(1).sum(1).tolist() == [28] * 5
        assert conds["random_0.3"]["ratio"] == 0.3 and conds["centre_square"]["ratio"] is None
        # every caller with the seed gets the same masks (the variants and the baselines)
        again = {seed: imp.conditions([0.7], [], 5, seed=seed)["random_0.7"]["missing"] for seed in (0, 1)}
        assert torch.equal(conds["random_0.7"]["missing"], again[0])
        assert not torch.equal(conds["random_0.7"]["missing"], again[1])
    finally:
        del imp.STRUCTURED["top_row"]


@pytest.mark.parametrize("ratio", [1.0, -0.1, 1.5, float("nan")])
def test_a_ratio_outside_zero_to_one_is_one_config_error_naming_the_param(ratio):
    with pytest.raises(ConfigError, match=r"^impute\.ratios\[1\]: got .*, expected a missing ratio >= 0 and < 1$"):
        imp.conditions([0.5, ratio], [], 4, seed=0)


def test_a_ratio_that_rounds_to_every_pixel_is_refused():
    with pytest.raises(ConfigError, match=r"^impute\.ratios\[0\]: got 0\.9999, which hides every pixel"):
        imp.conditions([0.9999], [], 4, seed=0)


def test_an_unknown_mask_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"^impute\.masks\[1\]: got 'left_half', expected one of bottom_half, "
                                          r"right_half, centre_square$"):
        imp.conditions([], ["bottom_half", "left_half"], 4, seed=0)


def test_a_mask_that_hides_every_pixel_is_refused():
    imp.register_mask("everything")(lambda side: torch.ones(side, side, dtype=torch.bool))
    try:
        with pytest.raises(ConfigError, match=r"^impute\.masks\[0\]: the mask hides every pixel"):
            imp.conditions([], ["everything"], 4, seed=0)
    finally:
        del imp.STRUCTURED["everything"]


@pytest.mark.parametrize("key, value, expected", [
    ("ratios", [0.5, 1.0], r"impute\.ratios\[1\]: got 1\.0, expected a number >= 0\.0 and < 1\.0"),
    ("ratios", [-0.2], r"impute\.ratios\[0\]: got -0\.2, expected a number >= 0\.0 and < 1\.0"),
    ("ratios", 0.5, r"impute\.ratios: got 0\.5, expected a list of numbers"),
    ("ratios", [0.5, 0.5], r"impute\.ratios: got \[0\.5, 0\.5\], which lists 0\.5 more than once"),
    ("masks", ["bottom_half", 3], r"impute\.masks\[1\]: got 3, expected a string"),
    ("samples", 1, r"impute\.samples: got 1, expected an integer >= 2"),
    ("knn_k", 0, r"impute\.knn_k: got 0, expected an integer >= 1"),
])
def test_bad_impute_params_are_one_problem_naming_the_param(key, value, expected):
    from vadlib.infra.config import parse_params

    with pytest.raises(ConfigError, match=expected) as err:
        parse_params({"impute": {key: value}, "variants": {"normal": {"distribution": "normal"}}})
    assert len(str(err.value).splitlines()) == 2, str(err.value)  # the header and exactly this one problem


def test_the_params_take_integer_ratios_as_numbers_and_keep_the_order():
    from vadlib.infra.config import parse_params

    cfg = parse_params({"impute": {"ratios": [0, 0.7, 0.3]}, "variants": {"normal": {"distribution": "normal"}}})
    assert cfg.impute.ratios == (0.0, 0.7, 0.3)


def _pair(n=70, seed=0):
    gen = GEN(seed)
    return torch.rand(n, 1, 28, 28, generator=gen), torch.rand(n, 1, 28, 28, generator=gen)


def test_course_loss_over_every_pixel_is_the_course_measure():
    x, y = _pair()
    everything = torch.ones(70, 28, 28, dtype=torch.bool)
    expected = course_loss(x.double() * 255, y.double() * 255)
    assert imp.course_loss_on(x, y, everything) == pytest.approx(expected, rel=1e-12)


def test_missing_pixel_scores_read_the_missing_pixels_only():
    x, y = _pair()
    missing = imp.random_missing(70, 0.3, GEN(1))
    s = imp.scores(x, y, missing)
    m = missing.view(70, 1, 28, 28)
    assert s["mse"] == pytest.approx(float((x.double() - y.double())[m].pow(2).mean()), rel=1e-12)
    assert s["psnr"] == pytest.approx(10 * math.log10(1 / s["mse"]))
    # course_loss on the missing pixels: per batch of 64 the norm over its missing pixels / (B * n_missing)
    k = round(0.3 * 784)
    per_batch = [float(torch.linalg.norm((x[a:a + 64].double() - y[a:a + 64].double())[m[a:a + 64]] * 255))
                 / (len(x[a:a + 64]) * k) for a in (0, 64)]
    assert s["course_loss"] == pytest.approx(sum(per_batch) / 2, rel=1e-12)
    changed = torch.where(m, y, torch.zeros_like(y))  # observed pixels of the prediction do not count
    assert imp.scores(x, changed, missing) == s
    assert imp.scores(x, y, torch.zeros_like(missing)) == {"mse": None, "psnr": None, "course_loss": None}


def test_the_completion_keeps_the_observed_pixels_and_scores_three_ways():
    x, y = _pair(8)
    missing = imp.structured_missing("bottom_half", 8)
    completed = imp.complete(x, y, missing)
    assert torch.equal(completed[:, :, :14], x[:, :, :14]) and torch.equal(completed[:, :, 14:], y[:, :, 14:])
    out = imp.imputation_scores(x, y, missing)
    assert out["missing"]["mse"] == pytest.approx(2 * out["whole"]["mse"], rel=1e-12)  # half the pixels differ
    assert out["observed"] == imp.scores(x, y, ~missing)


def _synthetic(k, n=50, seed=0):
    """Per pixel a mean and a spread; the truth and the K completions all drawn from that pixel's N(mean, spread)."""
    gen = GEN(seed)
    mean = torch.rand(n, 1, 28, 28, generator=gen, dtype=torch.float64)
    spread = 0.01 + 0.2 * torch.rand(n, 1, 28, 28, generator=gen, dtype=torch.float64)
    truth = mean + spread * torch.randn(n, 1, 28, 28, generator=gen, dtype=torch.float64)
    draws = mean + spread * torch.randn(k, n, 1, 28, 28, generator=gen, dtype=torch.float64)
    return truth, draws, mean, spread


def test_completions_from_the_true_distribution_are_calibrated():
    truth, draws, _, _ = _synthetic(400)
    missing = imp.random_missing(50, 0.5, GEN(2))
    u = imp.uncertainty(truth, draws, missing)
    assert u["samples"] == 400
    assert u["coverage_50"] == pytest.approx(0.5, abs=0.015)
    assert u["coverage_90"] == pytest.approx(0.9, abs=0.01)
    assert 0.3 < u["correlation"] < 0.7  # spread predicts the error: E|e| is proportional to the spread


def test_too_narrow_completions_undercover_and_the_spread_tracks_the_error_exactly_when_built_so():
    truth, draws, mean, _ = _synthetic(400)
    missing = imp.random_missing(50, 0.5, GEN(2))
    narrow = mean + (draws - mean) / 4
    u = imp.uncertainty(truth, narrow, missing)
    assert u["coverage_50"] < 0.2 and u["coverage_90"] < 0.45
    # each pixel's completions at mean +- s (half each), the truth at mean + 2 s: error = 2 s, spread ~ s, exactly
    s = 0.01 + torch.rand(50, 1, 28, 28, generator=GEN(5), dtype=torch.float64)
    signs = torch.tensor([1.0, -1.0], dtype=torch.float64).repeat(10).view(20, 1, 1, 1, 1)
    built = mean + signs * s
    u = imp.uncertainty(mean + 2 * s, built, missing)
    assert u["correlation"] == pytest.approx(1.0, abs=1e-12)
    assert u["coverage_50"] == 0.0 and u["coverage_90"] == 0.0
    assert imp.uncertainty(mean, built, missing)["coverage_50"] == 1.0  # the truth at the centre


def test_uncertainty_needs_two_completions_and_is_empty_without_missing_pixels():
    truth, draws, _, _ = _synthetic(2, n=3)
    with pytest.raises(ValueError, match="at least 2"):
        imp.uncertainty(truth, draws[:1], imp.random_missing(3, 0.5, GEN()))
    assert imp.uncertainty(truth, draws, torch.zeros(3, 28, 28, dtype=torch.bool)) == {**imp.NO_UNCERTAINTY,
                                                                                       "samples": 2}


def test_the_mean_baseline_is_the_pixel_mean_of_the_train_images():
    train = torch.rand(30, 1, 28, 28, generator=GEN(6))
    fill = imp.mean_fill(train, 4)
    assert fill.shape == (4, 1, 28, 28)
    assert torch.allclose(fill[2], train.double().mean(0), atol=1e-12, rtol=0)


def test_knn_with_one_neighbour_returns_a_train_image_and_with_all_of_them_the_mean():
    train = torch.rand(30, 1, 28, 28, generator=GEN(7))
    missing = imp.random_missing(5, 0.6, GEN(8))
    picked = [3, 17, 0, 29, 11]
    assert torch.equal(imp.knn_fill(train, train[picked], missing, 1).float(), train[picked])
    assert torch.allclose(imp.knn_fill(train, train[picked], missing, 30), imp.mean_fill(train, 5), atol=1e-12)


def test_knn_reads_only_the_observed_pixels():
    train = torch.rand(30, 1, 28, 28, generator=GEN(9))
    x = torch.rand(6, 1, 28, 28, generator=GEN(10))
    missing = imp.random_missing(6, 0.5, GEN(11))
    other = torch.where(missing.view(6, 1, 28, 28), torch.rand(6, 1, 28, 28, generator=GEN(12)), x)
    assert torch.equal(imp.knn_fill(train, x, missing, 3), imp.knn_fill(train, other, missing, 3))
    with pytest.raises(ConfigError, match=r"impute\.knn_k: got 31, expected 1 to 30"):
        imp.knn_fill(train, x, missing, 31)
