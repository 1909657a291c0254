"""The reference decoder of the course, with its 1x1-input ConvTranspose computed as a matmul."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .images import SIDE as IMAGE_SIDE


class Project(nn.Module):
    """ConvTranspose2d(d, c, 7) applied to a 1x1 input, written as one matmul.

    On a 1x1 input every output pixel is a plain linear function of z, so the conv's im2col machinery is
    pure overhead. The weight keeps ConvTranspose2d's layout (d, c, 7, 7) and init, so state dicts and
    numerics match the reference layer.
    """

    def __init__(self, latent_dim: int, channels: int, side: int = 7):
        super().__init__()
        self.channels, self.side = channels, side
        self.weight = nn.Parameter(torch.empty(latent_dim, channels, side, side))
        self.bias = nn.Parameter(torch.empty(channels))
        ref = nn.ConvTranspose2d(latent_dim, channels, side)  # borrow the reference initialisation
        with torch.no_grad():
            self.weight.copy_(ref.weight)
            self.bias.copy_(ref.bias)

    def forward(self, z: Tensor) -> Tensor:
        out = z @ self.weight.flatten(1)
        return out.view(-1, self.channels, self.side, self.side) + self.bias.view(1, -1, 1, 1)


class Decoder(nn.Module):
    """latent -> ConvT(d,c1,7) BN ReLU -> ConvT(c1,c2,4,2,1) BN ReLU -> ConvT(c2,1,4,2,1) Sigmoid -> Linear(784,784).

    Works on images in [0, 1]; the final Linear may step slightly outside, which `decode_images` clamps.
    """

    def __init__(self, latent_dim: int = 100, channels: tuple[int, int] = (128, 64)):
        super().__init__()
        c1, c2 = channels
        self.latent_dim, self.channels = latent_dim, tuple(channels)
        n_pix = IMAGE_SIDE * IMAGE_SIDE
        self.body = nn.Sequential(
            Project(latent_dim, c1),
            nn.BatchNorm2d(c1),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(c1, c2, 4, 2, 1),
            nn.BatchNorm2d(c2),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(c2, 1, 4, 2, 1),
            nn.Sigmoid(),
            nn.Flatten(),
            nn.Linear(n_pix, n_pix),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.body(z).view(-1, 1, IMAGE_SIDE, IMAGE_SIDE)

    def architecture(self) -> dict:
        return {"latent_dim": self.latent_dim, "channels": list(self.channels)}


@torch.no_grad()
def decode_images(decoder: Decoder, z: Tensor, batch_size: int = 1000) -> Tensor:
    """Decode codes to images in [0, 1] with BN in inference mode, in chunks to bound memory."""
    was_training = decoder.training
    decoder.eval()
    device = next(decoder.parameters()).device
    out = [decoder(chunk.to(device)).clamp_(0, 1).cpu() for chunk in z.split(batch_size)]
    decoder.train(was_training)
    return torch.cat(out) if out else torch.empty(0, 1, IMAGE_SIDE, IMAGE_SIDE)


