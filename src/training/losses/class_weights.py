"""Per-class loss weights from the train split's label frequencies, counted once when its cache was built."""

from __future__ import annotations

import numpy as np
import torch

from src.core.errors import ConfigError

METHODS = ("inverse_log", "median_frequency")


def class_weights(counts: np.ndarray, num_classes: int, method: str) -> torch.Tensor:
    """Weights for classes 0..num_classes-1 from their pixel counts (entries past num_classes: ignored pixels).

    inverse_log: 1 / ln(1.02 + share), ENet's rule: bounded (at most ~50x), so rare classes gain without the loss
    being ruled by a few pixels. median_frequency: median share / share (SegNet's rule on CamVid), stronger.
    Classes absent from train get weight 0 (nothing to learn from); the weights are scaled to mean 1 over present
    classes, so the loss keeps the scale of plain cross-entropy.
    """
    if method not in METHODS:
        raise ConfigError(f"model.loss.class_weights must be null or one of {', '.join(METHODS)}; got {method!r}")
    counts = np.asarray(counts[:num_classes], dtype=np.float64)
    present = counts > 0
    if not present.any():
        raise ConfigError("model.loss.class_weights: the train split has no labelled pixels to count")
    share = counts / counts.sum()
    weights = np.zeros(num_classes)
    if method == "inverse_log":
        weights[present] = 1 / np.log(1.02 + share[present])
    else:
        weights[present] = np.median(share[present]) / share[present]
    weights[present] /= weights[present].mean()
    return torch.tensor(weights, dtype=torch.float32)
