"""How many floating-point operations a network does, counted by torch.utils.flop_counter (a multiply-add counts 2)."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def forward_gflops(net: nn.Module, size: tuple[int, int]) -> float:
    """Forward FLOPs for one image of `size` (height, width), in GFLOP; `net` must be on the CPU."""
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 3, *size))
    return counter.get_total_flops() / 1e9


def train_gflops_per_image(net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], ignore_index: int) -> float:
    """Forward + backward FLOPs of one training step on `batch`, per image, in GFLOP (counted on the CPU).

    The loss is cross-entropy summed over the heads (a deeply supervised net returns a list): its FLOPs are
    negligible beside the convolutions', whatever model.loss is. `net` itself is left as it was (a copy runs).
    """
    net = copy.deepcopy(net).cpu().train()
    images, labels = (t.cpu() for t in batch)  # a data.device_resident batch lives on the GPU
    with FlopCounterMode(display=False) as counter:
        outputs = net(images)
        outputs = outputs if isinstance(outputs, list) else [outputs]
        sum(nn.functional.cross_entropy(z, labels.long(), ignore_index=ignore_index) for z in outputs).backward()
    return counter.get_total_flops() / len(images) / 1e9
