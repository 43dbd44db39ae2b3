"""What a trained model costs to hold and to run, measured on the model itself: its parameters, and the
floating-point operations of one image's forward pass counted by torch's flop counter
(:class:`torch.utils.flop_counter.FlopCounterMode`: matrix multiplications and convolutions, 2 per
multiply-add; elementwise work is not counted)."""

from __future__ import annotations

import torch

from .result import Footprint


def footprint(model: torch.nn.Module, example: torch.Tensor) -> Footprint:
    """``model``'s parameter count and forward FLOPs for one image shaped like ``example[0]``."""
    from torch.utils.flop_counter import FlopCounterMode

    params = sum(p.numel() for p in model.parameters())
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(example[:1])
        flops = int(counter.get_total_flops())
    finally:
        model.train(was_training)
    return Footprint(params=int(params), flops_per_image=flops)
