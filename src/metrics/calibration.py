"""Expected calibration error and the reliability diagram's bins, from a fixed-size histogram.

Written by hand because torchmetrics' CalibrationError keeps every confidence until compute(): millions of
pixels per epoch. Per-bin sums take constant memory and add up across processes under DDP.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric


class ReliabilityBins(Metric):
    """Per confidence bin (equal width on [0, 1]): pixels, summed confidence, correct pixels.

    Confidence is the top-class probability; a pixel is correct when that class is its label. ECE is the
    pixel-weighted mean |accuracy - confidence| over the bins (Guo et al., 2017).
    """

    full_state_update = False

    def __init__(self, n_bins: int = 15, ignore_index: int | None = 255) -> None:
        super().__init__()
        self.n_bins, self.ignore_index = n_bins, ignore_index
        # One extra bin collects ignored pixels, so the update never has to select pixels.
        self.add_state("pixels", torch.zeros(n_bins + 1, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("confidence", torch.zeros(n_bins + 1, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("correct", torch.zeros(n_bins + 1, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, confidence: torch.Tensor, correct: torch.Tensor, target: torch.Tensor) -> None:
        """Per pixel: the top-class probability, whether that class is right, and the `target` (for ignore)."""
        bins = (confidence * self.n_bins).long().clamp(0, self.n_bins - 1)  # confidence 1.0 joins the last bin
        if self.ignore_index is not None:
            bins = torch.where(target == self.ignore_index, self.n_bins, bins)
        bins = bins.flatten()
        self.pixels.scatter_add_(0, bins, torch.ones_like(bins, dtype=torch.float64))
        self.confidence.scatter_add_(0, bins, confidence.flatten().double())
        self.correct.scatter_add_(0, bins, correct.flatten().double())

    def compute(self) -> dict[str, torch.Tensor]:
        """`ece`, and per bin: `pixels`, mean `confidence` and `accuracy` (NaN for empty bins), `edges`."""
        pixels, confidence, correct = self.pixels[:-1], self.confidence[:-1], self.correct[:-1]
        total = pixels.sum().clamp_min(1)
        filled = pixels.clamp_min(1)
        ece = ((correct - confidence).abs() / total).sum()  # sum_b n_b/N * |acc_b - conf_b|
        empty = pixels == 0
        return {
            "ece": ece.float(),
            "pixels": pixels,
            "confidence": torch.where(empty, torch.nan, confidence / filled),
            "accuracy": torch.where(empty, torch.nan, correct / filled),
            "edges": torch.linspace(0, 1, self.n_bins + 1, dtype=torch.float64),
        }
