"""A weighted mean that never reads a value back to the host.

Written by hand because torchmetrics' MeanMetric either checks every update for NaN (a host sync per step on
GPU) or, with nan_strategy="disable", replaces the weights by ones (torchmetrics 1.9), which is a plain mean.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric


class WeightedMean(Metric):
    """sum(value * weight) / sum(weight) over all updates (and processes, under DDP); NaN passes through."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("weight", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, value: torch.Tensor, weight: torch.Tensor | float = 1.0) -> None:
        """`value`: a scalar tensor (e.g. a batch's mean loss); `weight`: what it averages over (e.g. pixels)."""
        weight = torch.as_tensor(weight, dtype=torch.float64, device=self.total.device)
        self.total += value.detach().double() * weight
        self.weight += weight

    def compute(self) -> torch.Tensor:
        return (self.total / self.weight).float()
