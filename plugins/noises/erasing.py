"""Random erasing: one rectangle per image replaced by a constant.

The geometry follows torchvision's ``RandomErasing`` (area as a fraction of the image, aspect ratio
log-uniform in [0.3, 3.3], uniform position), but every image in a batch gets its own rectangle in one
vectorised pass: torchvision's transform erases the same rectangle across a batched tensor, and calling
it per image costs a Python call per image in every training batch.
"""

import math

import torch

RATIO = (0.3, 3.3)


def erasing(x: torch.Tensor, *, scale: float, value: float = 0.0) -> torch.Tensor:
    """Erase a rectangle covering about ``scale`` of each image's area, filled with ``value``.

    ``x`` is ``[N, C, H, W]`` (all channels erased alike) or ``[N, D]`` (a contiguous run of ``scale·D``
    features erased). Returns a new tensor; ``x`` is not modified.
    """
    if x.dim() == 2:
        n, d = x.shape
        length = max(1, round(scale * d))
        start = torch.randint(0, d - length + 1, (n, 1), device=x.device)
        pos = torch.arange(d, device=x.device).unsqueeze(0)
        mask = (pos >= start) & (pos < start + length)
        return x.masked_fill(mask, value)
    n, _, height, width = x.shape
    area = scale * height * width
    log_ratio = torch.empty(n, device=x.device).uniform_(math.log(RATIO[0]), math.log(RATIO[1]))
    ratio = torch.exp(log_ratio)
    h = torch.sqrt(area * ratio).round().clamp(1, height).long()
    w = torch.sqrt(area / ratio).round().clamp(1, width).long()
    top = (torch.rand(n, device=x.device) * (height - h + 1)).long()
    left = (torch.rand(n, device=x.device) * (width - w + 1)).long()
    rows = torch.arange(height, device=x.device).view(1, height, 1)
    cols = torch.arange(width, device=x.device).view(1, 1, width)
    inside_rows = (rows >= top.view(n, 1, 1)) & (rows < (top + h).view(n, 1, 1))
    inside_cols = (cols >= left.view(n, 1, 1)) & (cols < (left + w).view(n, 1, 1))
    mask = (inside_rows & inside_cols).unsqueeze(1)
    return x.masked_fill(mask, value)
