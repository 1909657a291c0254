"""The seed-blocked analysis on synthetic tables with known effects: blocking finds what an unblocked test misses, a
null effect is equivalent within a generous margin, a small effect at 3 seeds is unresolved, two groups reduce to the
paired t-test, Holm is statsmodels' Holm, and bad input is refused with one clear message."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from vadlib.infra.errors import VadlibError
from vadlib.measure.comparisons import adjust, blocked_contrasts, compare_table, equivalence, group_effect, verdict


def table(shifts: dict, n_seeds: int, seed_sd: float = 10.0, noise_sd: float = 1.0, rng_seed: int = 0,
          value: str = "y") -> pd.DataFrame:
    """Long table: value = seed effect (shared by every group at a seed) + the group's shift + noise."""
    rng = np.random.default_rng(rng_seed)
    seed_effect = rng.normal(0, seed_sd, n_seeds)
    return pd.DataFrame([{"variant": g, "seed": s, value: 100 + seed_effect[s] + shift + rng.normal(0, noise_sd)}
                         for s in range(n_seeds) for g, shift in shifts.items()])


def values(df, g):
    return df[df.variant == g].sort_values("seed")["y"].to_numpy()


def test_blocking_calls_a_real_effect_that_an_unblocked_welch_test_misses():
    df = table({"a": 0.0, "b": 3.0}, n_seeds=10)
    welch = stats.ttest_ind(values(df, "b"), values(df, "a"), equal_var=False)
    assert welch.pvalue > 0.05  # the seed-to-seed spread (sd 10) swamps the 3-sd shift unblocked
    v = verdict(blocked_contrasts(df, "y"), margin=1.0)
    assert v.loc[0, "verdict"] == "differs" and v.loc[0, "p_adjusted"] < 1e-4
    assert v.loc[0, "ci_low"] > 0 and v.loc[0, "estimate"] == pytest.approx(3.0, abs=1.0)


def test_a_null_effect_is_equivalent_within_a_generous_margin():
    df = table({"a": 0.0, "b": 0.0, "c": 0.0}, n_seeds=10, rng_seed=1)
    v = verdict(blocked_contrasts(df, "y"), margin=3.0)
    assert list(zip(v.A, v.B)) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert (v.verdict == "equivalent").all() and (v.p_tost_adjusted < 0.05).all()
    e = equivalence(blocked_contrasts(df, "y"), margin=3.0)
    assert ((e.p_tost < 0.05) == e.equivalent).all()  # the 90% interval inside the margin <=> TOST p < 0.05


def test_a_small_effect_at_three_seeds_is_not_resolved():
    df = table({"a": 0.0, "b": 0.5}, n_seeds=3, rng_seed=2)
    v = verdict(blocked_contrasts(df, "y"), margin=0.5)
    assert v.loc[0, "verdict"] == "not resolved"
    assert v.loc[0, "p_adjusted"] >= 0.05 and v.loc[0, "p_tost_adjusted"] >= 0.05


def test_two_groups_are_the_paired_t_test_over_seeds():
    df = table({"a": 0.0, "b": 1.0}, n_seeds=6, rng_seed=3).sample(frac=1, random_state=0)  # order must not matter
    df = pd.concat([df[df.variant == "a"].head(1), df])  # "a" first, so the contrast is b - a
    df = df.drop_duplicates()
    c = blocked_contrasts(df, "y")
    ref = stats.ttest_rel(values(df, "b"), values(df, "a"))
    lo, hi = ref.confidence_interval(0.95)
    assert c.loc[0, "estimate"] == pytest.approx(np.mean(values(df, "b") - values(df, "a")))
    assert c.loc[0, "p"] == pytest.approx(ref.pvalue)
    assert (c.loc[0, "ci_low"], c.loc[0, "ci_high"]) == pytest.approx((lo, hi))
    assert c.loc[0, "df"] == ref.df == 5 and c.loc[0, "n_seeds"] == 6
    flipped = blocked_contrasts(df, "y", pairs=[("b", "a")])
    assert flipped.loc[0, "estimate"] == pytest.approx(-c.loc[0, "estimate"])


def test_holm_and_bh_are_statsmodels_multipletests():
    p = [0.01, 0.04, 0.03, 0.2, 0.001]
    assert adjust(p) == pytest.approx(multipletests(p, method="holm")[1])
    assert adjust(p, "fdr_bh") == pytest.approx(multipletests(p, method="fdr_bh")[1])
    v = verdict(blocked_contrasts(table({"a": 0, "b": 1, "c": 2, "d": 0}, n_seeds=4, rng_seed=4), "y"), margin=1.0)
    assert v.p_adjusted.to_numpy() == pytest.approx(multipletests(v.p, method="holm")[1])
    assert v.p_tost_adjusted.to_numpy() == pytest.approx(multipletests(v.p_tost, method="holm")[1])
    with pytest.raises(VadlibError, match="method"):
        adjust(p, "bonferroni-ish")


@pytest.mark.parametrize("break_it, message", [
    (lambda df: df.assign(y=df.y.where(~((df.variant == "b") & (df.seed == 1)))), r"NaN or infinite at b/seed 1"),
    (lambda df: df[(df.seed == 0) | (df.variant == "a")], r"at least 2 seeds that every group has"),
    (lambda df: df[df.variant != "b"], r"group\(s\) \['b'\] absent"),
])
def test_bad_input_is_refused_with_one_clear_message(break_it, message):
    df = break_it(table({"a": 0.0, "b": 1.0}, n_seeds=4))
    with pytest.raises(VadlibError, match=message):
        blocked_contrasts(df, "y", pairs=[("a", "b")])


def test_seeds_a_group_lacks_are_dropped_and_said():
    df = table({"a": 0.0, "b": 1.0, "c": 2.0}, n_seeds=5, rng_seed=5)
    partial = df[~((df.variant == "c") & (df.seed == 4))]
    with pytest.warns(UserWarning, match=r"dropped a: seeds \[4\]; b: seeds \[4\]"):
        c = blocked_contrasts(partial, "y")
    assert c.attrs["dropped_seeds"] == {"a": [4], "b": [4]} and (c.n_seeds == 4).all()
    pd.testing.assert_frame_equal(c, blocked_contrasts(df[df.seed < 4], "y"))


def test_the_group_effect_f_test_is_the_anova_of_the_blocked_model():
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    df = table({"a": 0, "b": 1, "c": 0.5}, n_seeds=5, rng_seed=6)
    row = anova_lm(smf.ols("y ~ C(variant) + C(seed)", df).fit()).loc["C(variant)"]
    f = group_effect(df, "y")
    assert (f["F"], f["p"], f["df_num"], f["df_denom"]) == pytest.approx((row.F, row["PR(>F)"], 2, 8))


def test_compare_table_pairs_cells_adds_the_reference_across_cells_and_corrects_per_figure():
    cells = []
    for i, beta in enumerate((0.2, 1.0)):
        shifts = {"normal": 0.0, "uniform": 5.0} if beta == 1.0 else {"ad": -5.0, "normal": 0.0, "uniform": 0.0}
        cells.append(table(shifts, n_seeds=6, rng_seed=10 + i).assign(beta=beta))
    df = pd.concat(cells, ignore_index=True)
    df["kl"] = np.where(df.variant == "ad", np.nan, df.y)  # a figure the AD does not have
    r = compare_table(df, ["y", "kl"], {"y": 2.0, "kl": 2.0}, reference="ad")
    y = r.verdicts[r.verdicts.figure == "y"]
    assert [(a, b, ba, bb) for a, b, ba, bb in zip(y.A, y.B, y.beta_A, y.beta)] == [
        ("ad", "normal", 0.2, 0.2), ("ad", "uniform", 0.2, 0.2), ("normal", "uniform", 0.2, 0.2),
        ("normal", "uniform", 1.0, 1.0), ("ad", "normal", 0.2, 1.0), ("ad", "uniform", 0.2, 1.0)]
    assert list(y.verdict) == ["differs", "differs", "equivalent", "differs", "differs", "differs"]
    assert y.p_adjusted.to_numpy() == pytest.approx(multipletests(y.p, method="holm")[1])  # one family per figure
    assert set(r.verdicts[r.verdicts.figure == "kl"].A) == {"normal"}
    assert r.notes == ["kl: no values for variant ad at {'beta': 0.2}; left out"]
    assert list(r.effects.groups) == ["ad, normal, uniform"] + ["normal, uniform"] * 3
    with pytest.raises(VadlibError, match="no equivalence margin"):
        compare_table(df, ["y"], {})


def test_compare_table_leaves_out_nan_runs_and_names_them():
    """A figure missing at one seed of one group (a sampler failing the gate there) drops that run, and the blocked
    fit keeps the seeds every group has; the answer equals the table without that seed."""
    df = table({"normal": 0.0, "uniform": 6.0, "laplace": 0.0}, n_seeds=6, rng_seed=20).assign(beta=0.002)
    df.loc[(df.variant == "laplace") & (df.seed == 5), "y"] = np.nan
    r = compare_table(df, ["y"], {"y": 3.0})
    assert r.notes[0] == "y: no value at laplace beta 0.002 seed 5; those runs left out"
    assert any("dropped normal: seeds [5]; uniform: seeds [5]" in n for n in r.notes)
    whole = compare_table(df[df.seed < 5], ["y"], {"y": 3.0})
    pd.testing.assert_frame_equal(r.verdicts, whole.verdicts)
    assert (r.verdicts.n_seeds == 5).all() and list(r.verdicts.verdict) == ["differs", "equivalent", "differs"]


def test_compare_table_leaves_out_a_group_with_one_usable_seed_and_a_figure_with_none():
    df = table({"normal": 0.0, "uniform": 3.0, "laplace": 0.0}, n_seeds=4, rng_seed=21).assign(beta=0.2)
    df["gated"] = np.where((df.variant == "laplace") & (df.seed > 0), np.nan, df.y)  # laplace: seed 0 only
    df["empty"] = np.nan  # a column older rows lack everywhere
    r = compare_table(df, ["gated", "empty"], {"gated": 1.0, "empty": 1.0})
    assert "gated: variant laplace at {'beta': 0.2} has values at seed 0 only; left out (needs 2)" in r.notes
    assert set(zip(r.verdicts.A, r.verdicts.B)) == {("normal", "uniform")} and set(r.verdicts.figure) == {"gated"}
    assert "empty: no values in any run; not compared" in r.notes
    assert list(r.effects.groups) == ["normal, uniform"]


def test_compare_table_does_not_compare_groups_that_share_fewer_than_two_seeds():
    df = table({"normal": 0.0, "uniform": 1.0}, n_seeds=4, rng_seed=22).assign(beta=1.0)
    df = df[((df.variant == "normal") & (df.seed < 2)) | ((df.variant == "uniform") & (df.seed >= 2))]
    r = compare_table(df, ["y"], {"y": 1.0})
    assert r.verdicts.empty and list(r.verdicts.columns[:3]) == ["figure", "beta", "A"]
    assert "y at {'beta': 1}: normal, uniform share seeds [], fewer than 2; not compared" in r.notes


def test_a_table_with_nothing_to_compare_gives_empty_results_with_every_column():
    import pandas as pd

    from vadlib.measure.comparisons import compare_table

    one = pd.DataFrame({"variant": ["uniform"], "beta": [0.2], "seed": [1], "loss": [0.1]})
    out = compare_table(one, ["loss"], {"loss": 0.01}, reference="ad")
    assert out.verdicts.empty and {"beta", "beta_A", "verdict", "p_adjusted"} <= set(out.verdicts.columns)
    assert out.effects.empty and {"figure", "beta", "p"} <= set(out.effects.columns)
    assert out.notes  # says why nothing was compared
