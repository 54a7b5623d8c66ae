"""Pixel accuracy and IoU from a confusion matrix: accumulate counts per batch, divide once per epoch.

One confusion matrix per stage yields accuracy, per-class IoU and mIoU together (and syncs under DDP);
separate Accuracy and JaccardIndex objects would each count the same pixels again.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric


class ConfusionMatrix(Metric):
    """Counts of (target, prediction) pairs; rows are targets. Pixels labelled `ignore_index` are not counted.

    Written by hand because torchmetrics' MulticlassConfusionMatrix drops ignored pixels with boolean
    indexing and counts with bincount, and both wait for the GPU every step; a scatter-add does not.
    """

    full_state_update = False

    def __init__(self, num_classes: int, ignore_index: int | None = 255) -> None:
        super().__init__()
        self.num_classes, self.ignore_index = num_classes, ignore_index
        # One extra bin collects ignored pixels, so the update never has to select pixels.
        self.add_state("counts", torch.zeros(num_classes * num_classes + 1, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        """`preds` and `target`: class indices of the same shape."""
        n = self.num_classes
        keep = (target >= 0) & (target < n)
        if self.ignore_index is not None:
            keep &= target != self.ignore_index
        bins = torch.where(keep, target * n + preds, n * n).flatten()
        self.counts.scatter_add_(0, bins, torch.ones_like(bins))

    def compute(self) -> torch.Tensor:
        return self.counts[:-1].reshape(self.num_classes, self.num_classes)


def pixel_accuracy(confmat: torch.Tensor) -> torch.Tensor:
    """Correct pixels over labelled pixels (rows are targets, columns predictions)."""
    return confmat.diag().sum() / confmat.sum().clamp_min(1)


def iou_per_class(confmat: torch.Tensor) -> torch.Tensor:
    """IoU per class; NaN for a class absent from both target and prediction (it has no IoU)."""
    confmat = confmat.double()
    intersection = confmat.diag()
    union = confmat.sum(0) + confmat.sum(1) - intersection
    return torch.where(union > 0, intersection / union.clamp_min(1), torch.full_like(union, float("nan")))


def mean_iou(confmat: torch.Tensor) -> torch.Tensor:
    """Mean IoU over the classes present in target or prediction (absent classes count neither 0 nor 1)."""
    return iou_per_class(confmat).nanmean().nan_to_num(0.0).float()
