"""Pixel accuracy and IoU from a confusion matrix: accumulate counts per batch, divide once per epoch.

One torchmetrics `MulticlassConfusionMatrix` per stage yields accuracy, per-class IoU and mIoU together
(and syncs under DDP); separate Accuracy and JaccardIndex objects would each count the same pixels again.
"""

from __future__ import annotations

import torch


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
