"""The best-sampler choice: the lowest FD among the registered samplers whose samples are no copies of training
images (vadlib/workflows/generation.py); the reference rows `real` and `reconstruction` are never candidates."""
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from helpers import StandIn, assert_best_sampler_passes_the_gate, tiny_config
from vadlib.core.distributions import get_distribution
from vadlib.core.samplers import REGISTRY
from vadlib.measure.generation import NOT_A_COPY, best_sampler, sample_study

ROOT = Path(__file__).resolve().parents[2]


def row(fd, ratio, recognisable=0.5):
    return {"fd": fd, "nn_train_ratio": ratio, "recognisable": recognisable}


def rows(**samplers):
    """The two reference rows (better FD than any sampler, and no copies) plus the given sampler rows."""
    return {"real": row(1.0, 1.0, 0.8), "reconstruction": row(2.0, 0.95, 0.7), **samplers}


def test_a_copier_with_the_lowest_fd_is_passed_over_for_the_best_non_copier():
    study = rows(posterior=row(3.0, 0.40, 0.84), class_gmm=row(8.0, 0.91, 0.76), gmm=row(9.0, 0.95, 0.68),
                 gaussian=row(32.0, 1.29, 0.24), prior=row(30.0, 1.41, 0.2))
    best = best_sampler(study, baseline="gaussian")
    assert best == {"name": "class_gmm", "fd_vs_baseline": pytest.approx(8.0 / 32.0),
                    "recognisable_vs_real": pytest.approx(0.76 / 0.8)}


def test_the_gate_is_inclusive_at_not_a_copy():
    assert NOT_A_COPY == 0.9
    at = rows(posterior=row(3.0, 0.9), prior=row(30.0, 1.4))
    below = rows(posterior=row(3.0, 0.8999), prior=row(30.0, 1.4))
    assert best_sampler(at, "prior")["name"] == "posterior"
    assert best_sampler(below, "prior")["name"] == "prior"


def test_none_only_when_every_sampler_copies():
    all_copy = rows(posterior=row(3.0, 0.2), gmm=row(9.0, 0.5), prior=row(30.0, 0.89))
    assert best_sampler(all_copy, "prior") == {"name": "none", "fd_vs_baseline": None, "recognisable_vs_real": None}
    one_not = rows(posterior=row(3.0, 0.2), gmm=row(9.0, 0.5), prior=row(30.0, 0.9))
    assert best_sampler(one_not, "prior")["name"] == "prior"


def test_with_held_out_fds_the_choice_ignores_the_test_fd():
    """The test FD of the chosen row is reported, but the choice is made on the held-out FD: here they disagree."""
    study = rows(class_gmm=row(8.0, 0.91), gmm=row(9.0, 0.95), posterior=row(3.0, 0.40),
                 gaussian=row(32.0, 1.29), prior=row(30.0, 1.41))
    held_out = {"class_gmm": 8.6, "gmm": 8.4, "posterior": 1.0, "gaussian": 31.0, "prior": 29.0}
    assert best_sampler(study, "prior")["name"] == "class_gmm"
    best = best_sampler(study, "prior", held_out)
    assert best["name"] == "gmm"  # the copier (posterior) stays out although its held-out FD is the lowest
    assert best["fd_vs_baseline"] == pytest.approx(9.0 / 30.0)


def test_reference_rows_are_never_the_best_sampler():
    """`real` and `reconstruction` have the lowest FDs and are no copies, yet they are not samplers."""
    study = rows(prior=row(60.0, 1.4), gaussian=row(33.0, 1.3))
    assert best_sampler(study, "prior")["name"] == "gaussian"
    only_references = rows()
    assert best_sampler(only_references, "prior")["name"] == "none"


def test_ratios_against_a_zero_reference_are_null():
    study = rows(prior=row(0.0, 1.4, 0.3), gaussian=row(5.0, 1.3, 0.0))
    study["real"]["recognisable"] = 0.0
    best = best_sampler(study, "prior")  # the baseline (prior) has FD 0 and no real image is recognisable
    assert best == {"name": "prior", "fd_vs_baseline": None, "recognisable_vs_real": None}


# --- the whole study, with a sampler that really copies ------------------------------------------------------------

class Identity(nn.Module):
    """A decoder for 784-dim codes that are images: decode(z) = z as a 28x28 image (decode_images clamps to [0, 1])."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))  # decode_images reads the device from the first parameter

    def forward(self, z):
        return z.view(-1, 1, 28, 28)


def images(n, seed):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def test_sample_study_excludes_the_posterior_that_replays_the_training_images():
    """An AD whose codes are its training images: the aggregate posterior replays them exactly (a copier at any
    temperature), so it has by far the lowest FD of the samplers; the study must still pick a non-copier, and never
    `reconstruction` (the test images themselves here: FD ~0, no copies)."""
    n = 60
    train, test, held_out = images(n, 1), images(n, 2), images(n, 3)
    trained = SimpleNamespace(decoder=Identity(), dist=get_distribution("ad"), train_params=train.flatten(1),
                              labels=torch.arange(n) % 3)
    cfg = tiny_config(model={"latent_dim": 784}, quality={"n_samples": 40, "nearest_k": 3},
                      samplers={"gmm_components": 3, "gmm_pca_dim": 4})
    study = sample_study(trained, StandIn(), test.flatten(1), {"test": test, "train": train, "held_out": held_out},
                         cfg, "ad")
    samples, best = study["samples"], study["best_sampler"]
    assert set(samples) == {"real", "reconstruction", *REGISTRY}
    copier = samples["posterior"]
    assert copier["nn_train_ratio"] < 1e-6 and copier["nn_train_pixel_ratio"] < 1e-6
    assert copier["fd"] < min(samples[s]["fd"] for s in REGISTRY if s != "posterior")
    assert samples["reconstruction"]["fd"] < copier["fd"] and samples["reconstruction"]["nn_train_ratio"] > 0.9
    assert best["name"] in set(REGISTRY) - {"posterior"}
    assert samples[best["name"]]["nn_train_ratio"] >= NOT_A_COPY
    assert best["fd_vs_baseline"] == pytest.approx(samples[best["name"]]["fd"] / samples["gaussian"]["fd"])
    assert best["held_out_fd"] > 0
    density = study["code_density"]  # the PCA mixtures (gmm_pca_dim 4) and the replay have no density in code space
    assert set(density["test_log_likelihood"]) == set(density["train_log_likelihood"]) == {"prior", "gaussian"}
    assert density["best"] == max(density["test_log_likelihood"], key=density["test_log_likelihood"].get)
    assert density["best_test_log_likelihood"] == density["test_log_likelihood"][density["best"]]


def test_the_committed_best_samplers_pass_the_gate():
    files = sorted((ROOT / "metrics/variants").glob("*.json"))
    assert files
    for path in files:
        assert_best_sampler_passes_the_gate(json.loads(path.read_text()), path.name)


def test_the_gate_check_fails_on_a_copier_or_a_reference_row():
    """The check above can fail: a best sampler that copies, a reference row, or 'none' beside a non-copier."""
    metrics = json.loads((ROOT / "metrics/variants/ad.json").read_text())
    for name, message in (("posterior", "copies"), ("real", "not a sampler"), ("reconstruction", "not a sampler"),
                          ("none", "no copies"), ("prior", "but the non-copies have")):
        changed = {**metrics, "best_sampler": {**metrics["best_sampler"], "name": name}}
        with pytest.raises(AssertionError, match=message):
            assert_best_sampler_passes_the_gate(changed)
