"""Per-pixel uncertainty: predictive entropy of the softmax, and MC dropout (Gal & Ghahramani, 2016).

MC dropout keeps dropout sampling at test time (BatchNorm stays in eval mode) and averages T softmax samples.
Its predictive entropy H[E_t p_t] splits into the expected entropy E_t H[p_t] (aleatoric: noise the model
sees in the data) and the mutual information H[E_t p_t] - E_t H[p_t] (epistemic: the samples disagree).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from src.core.errors import ConfigError

log = logging.getLogger(__name__)
EPS = torch.finfo(torch.float32).tiny


def entropy(probs: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Shannon entropy in nats over the class dimension; 0 for a one-hot distribution, log(C) for a uniform one."""
    return -(probs * probs.clamp_min(EPS).log()).sum(dim)


def dropout_layers(model: nn.Module) -> list[nn.Module]:
    """The dropout layers that sample (p > 0); a network without any cannot do MC dropout."""
    return [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0]


def mc_samples_for(model: nn.Module, requested: int, key: str = "mc_samples") -> int:
    """The MC-dropout samples to draw: `requested` (0 or 1: none), or 0 with a warning for a net without dropout."""
    if isinstance(requested, bool) or not isinstance(requested, int) or requested < 0:
        raise ConfigError(f"{key} must be a whole number >= 0 (0 or 1: no MC dropout), got {requested!r}")
    if requested < 2:
        return 0
    if not dropout_layers(model):
        log.warning("%s=%d ignored: the network has no dropout with p > 0 (model.net.dropout)", key, requested)
        return 0
    return requested


@contextmanager
def dropout_sampling(model: nn.Module) -> Iterator[int]:
    """Switch only the dropout layers to training mode (sampling); yields how many; restores them after."""
    layers = dropout_layers(model)
    modes = [m.training for m in layers]
    try:
        for m in layers:
            m.train()
        yield len(layers)
    finally:
        for m, mode in zip(layers, modes, strict=True):
            m.train(mode)


@dataclass
class Prediction:
    """Class probabilities (N, C, H, W) and per-pixel uncertainty maps (N, H, W), in nats."""

    probs: torch.Tensor
    entropy: torch.Tensor  # predictive entropy H[p]
    mutual_information: torch.Tensor | None = None  # MC dropout only: the epistemic part of the entropy

    def cpu(self) -> Prediction:
        """The same maps in CPU memory."""
        mutual_information = None if self.mutual_information is None else self.mutual_information.cpu()
        return Prediction(self.probs.cpu(), self.entropy.cpu(), mutual_information)


@torch.no_grad()
def predict(model: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor) -> Prediction:
    """One deterministic pass: softmax probabilities and their entropy (the model must be in eval mode)."""
    probs = model(images).float().softmax(1)
    return Prediction(probs, entropy(probs))


@torch.no_grad()
def predict_mc_dropout(model: nn.Module, images: torch.Tensor, samples: int = 20) -> Prediction:
    """Mean of `samples` softmax outputs with dropout sampling, its entropy and the mutual information.

    Running sums keep memory at two maps whatever `samples` is. Raises ValueError for a model without dropout,
    where every sample would be the same prediction.
    """
    if samples < 2:
        raise ValueError(f"MC dropout needs at least 2 samples, got {samples}")
    with dropout_sampling(model) as layers:
        if layers == 0:
            raise ValueError("the model has no dropout layer with p > 0, so MC dropout samples would all be equal")
        probs_sum, entropy_sum = None, None
        for _ in range(samples):
            probs = model(images).float().softmax(1)
            probs_sum = probs if probs_sum is None else probs_sum.add_(probs)
            sample_entropy = entropy(probs)
            entropy_sum = sample_entropy if entropy_sum is None else entropy_sum.add_(sample_entropy)
    mean = probs_sum / samples
    predictive = entropy(mean)
    # Clamped: rounding can make the difference of two nearly equal entropies slightly negative.
    return Prediction(mean, predictive, (predictive - entropy_sum / samples).clamp_min(0))
