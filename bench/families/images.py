"""Images as the store keeps them for the reports' grids."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def uint8_npy(images: torch.Tensor) -> bytes:
    """Images in [0, 1] as a uint8 .npy file."""
    import numpy as np
    import torch

    buffer = io.BytesIO()
    np.save(buffer, (images.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy(), allow_pickle=False)
    return buffer.getvalue()
