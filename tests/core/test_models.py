import torch
from torch import nn

from vadlib.core.models import Decoder, Project, decode_images


def test_project_matches_conv_transpose_on_1x1_input():
    torch.manual_seed(0)
    proj = Project(10, 6)
    ref = nn.ConvTranspose2d(10, 6, 7)
    ref.load_state_dict(proj.state_dict())
    z = torch.randn(5, 10)
    assert torch.allclose(proj(z), ref(z.view(5, 10, 1, 1)), atol=1e-6)


def test_decoder_shape_and_reference_layout():
    dec = Decoder(100, (128, 64))
    assert dec(torch.randn(3, 100)).shape == (3, 1, 28, 28)
    convs = [m for m in dec.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (128, 64, (4, 4), (2, 2)), (64, 1, (4, 4), (2, 2))]
    assert dec.body[0].weight.shape == (100, 128, 7, 7)
    assert any(isinstance(m, nn.Linear) and m.in_features == m.out_features == 784 for m in dec.modules())


def test_decode_images_in_unit_range_and_restores_mode():
    dec = Decoder(8, (16, 8)).train()
    with torch.no_grad():
        dec.body[-1].bias.fill_(5.0)  # push raw outputs far outside [0, 1]
    out = decode_images(dec, torch.randn(7, 8), batch_size=3)
    assert out.shape == (7, 1, 28, 28) and out.min() >= 0 and out.max() <= 1
    assert dec.training
