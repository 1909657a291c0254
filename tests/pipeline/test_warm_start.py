"""Warm-started fitting (`fit.init: nearest`): each new image starts from the train row whose decode is nearest."""
import dataclasses

import torch

from helpers import tiny_config, tiny_data
from vadlib.core.latents import nearest_start
from vadlib.core.models import decode_images
from vadlib.pipeline.checkpoint import load_decoder
from vadlib.pipeline.fit import fit_latents
from vadlib.measure.reconstruction import reconstruction_metrics
from vadlib.pipeline.train import train_variant

CPU = torch.device("cpu")


def test_each_image_starts_from_the_row_with_the_nearest_decode():
    decoded = torch.stack([torch.full((1, 28, 28), v) for v in (0.0, 0.5, 1.0)])
    rows = torch.tensor([[0.0, 10.0], [1.0, 11.0], [2.0, 12.0]])
    images = torch.stack([torch.full((1, 28, 28), v) for v in (0.9, 0.1, 0.45)])
    assert torch.equal(nearest_start(decoded, rows, images), rows[[2, 0, 1]])


def test_a_start_depends_only_on_its_own_image():
    """No other new image (and no label: the function takes none) can change where an image starts."""
    gen = torch.Generator().manual_seed(0)
    decoded, rows = torch.rand(50, 1, 28, 28, generator=gen), torch.randn(50, 4, generator=gen)
    images = torch.rand(8, 1, 28, 28, generator=gen)
    alone = torch.cat([nearest_start(decoded, rows, images[i:i + 1]) for i in range(8)])
    together = nearest_start(decoded, rows, images, chunk=3)
    shuffled = nearest_start(decoded, rows, images.flip(0)).flip(0)
    assert torch.equal(alone, together) and torch.equal(alone, shuffled)


def test_refitting_train_images_never_starts_from_their_own_row():
    decoded = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    rows = torch.arange(6.0).view(6, 1)
    own = nearest_start(decoded, rows, decoded)
    others = nearest_start(decoded, rows, decoded, exclude_self=True, chunk=4)
    assert torch.equal(own.squeeze(1), torch.arange(6.0))
    assert not (others.squeeze(1) == torch.arange(6.0)).any()


def test_warm_start_fits_better_than_a_random_start_in_few_epochs_and_is_deterministic():
    cfg = tiny_config(train={"epochs": 150, "batch_size": 10, "lr_latent": 0.05})
    data = tiny_data(20)
    model, _ = train_variant(cfg, "ad", data, CPU, progress=False)
    decoder = load_decoder(model, CPU)
    new = data["images"][:10]

    def fitted_loss(init):
        fit = dataclasses.replace(cfg.fit, init=init, epochs=3, lr=0.05)
        params, _ = fit_latents(decoder, cfg.variant("ad"), fit, new, 0, "t", False, model["latents"])
        return params, reconstruction_metrics(new, decode_images(decoder, params))["course_loss"]

    warm, warm_loss = fitted_loss("nearest")
    _, random_loss = fitted_loss("random")
    assert warm_loss < random_loss
    assert torch.equal(warm, fitted_loss("nearest")[0])
