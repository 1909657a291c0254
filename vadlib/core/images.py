"""Images as the models see them: the dataset's uint8 [N, 28, 28] become float [N, 1, 28, 28] in [0, 1], the
decoder's output range. Side and class count come from the dataset's definition (`infra/data.py`), once."""
from __future__ import annotations

import torch
from torch import Tensor

from ..infra.data import CLASS_NAMES, SIDE

N_CLASSES = len(CLASS_NAMES)
N_PIXELS = SIDE * SIDE


def to_unit(images_uint8: Tensor, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
            ) -> Tensor:
    """uint8 [N, 28, 28] (or [N, 1, 28, 28]) -> [N, 1, 28, 28] in [0, 1] of `dtype`, on `device` (default: where
    the images are). Division by 255 in the target dtype, so float32 and float64 callers get the same bits as
    before this helper existed."""
    if images_uint8.dtype != torch.uint8:
        raise TypeError(f"to_unit: got {images_uint8.dtype} images, expected uint8 in [0, 255]")
    x = images_uint8.to(device=device if device is not None else images_uint8.device, dtype=dtype).div_(255)
    return x.unsqueeze(1) if x.ndim == 3 else x
