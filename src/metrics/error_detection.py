"""How well an uncertainty map finds the wrong pixels: AUROC of the score for "this pixel is misclassified".

Written by hand because torchmetrics' binned AUROC compares every pixel with every threshold (pixels x
thresholds memory, or one pass per threshold). Two histograms of the score (wrong vs right pixels) give the
AUROC up to ties within a bin, in constant memory, and add up across processes under DDP. The bins are
spaced logarithmically: a confident model puts most pixels' entropy within a hair of 0, and linear bins would
lump them into one.
"""

from __future__ import annotations

import math

import torch
from torchmetrics import Metric


class ErrorDetectionAUROC(Metric):
    """P(score of a wrong pixel > score of a right pixel), ties counting half; 0.5 is chance, 1.0 perfect.

    Scores must lie in [0, max_score] (e.g. entropy with max_score=log(C)); they are binned into `n_bins` bins
    evenly spaced in log(score) from `min_score` to `max_score` (scores below `min_score` share the first bin).
    """

    full_state_update = False

    def __init__(
        self, max_score: float, n_bins: int = 10_000, ignore_index: int | None = 255, min_score: float = 1e-9
    ) -> None:
        super().__init__()
        self.n_bins, self.ignore_index = n_bins, ignore_index
        self.log_min, self.log_max = math.log(min_score), math.log(max_score)
        # Rows: right, wrong, ignored pixels.
        self.add_state("hist", torch.zeros(3, n_bins, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, score: torch.Tensor, wrong: torch.Tensor, target: torch.Tensor) -> None:
        """Per pixel: the uncertainty `score`, whether the prediction is `wrong`, and the `target` (for ignore)."""
        position = (score.float().clamp_min(math.exp(self.log_min)).log() - self.log_min) / (
            self.log_max - self.log_min
        )
        bins = (position * self.n_bins).long().clamp(0, self.n_bins - 1)
        row = wrong.long()
        if self.ignore_index is not None:
            row = torch.where(target == self.ignore_index, 2, row)
        index = (row * self.n_bins + bins).flatten()
        self.hist.view(-1).scatter_add_(0, index, torch.ones_like(index, dtype=torch.float64))

    def compute(self) -> torch.Tensor:
        right, wrong = self.hist[0], self.hist[1]
        if right.sum() == 0 or wrong.sum() == 0:
            return torch.tensor(float("nan"))  # undefined with only one kind of pixel
        right_below = torch.cumsum(right, 0) - right  # right pixels in lower bins than each bin
        pairs = (wrong * (right_below + 0.5 * right)).sum()
        return (pairs / (right.sum() * wrong.sum())).float()
