"""The training objective: cross-entropy (optionally class-weighted, focal or OHEM) plus an optional Dice term.

One module instead of one class per recipe, because they combine (weighted CE + Dice, focal + Dice) and share
the ignore mask and the class weights. Written by hand: torch has no Dice, focal or OHEM loss, and the
segmentation libraries that do (smp, mmseg) would be a large dependency for a few lines.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from src.core.errors import ConfigError
from src.training.losses.class_weights import class_weights as weights_from_counts

DICE_SMOOTH = 1.0  # pixels; keeps Dice defined for classes absent from a batch


class SegmentationLoss(nn.Module):
    """ce_weight x (cross-entropy | focal | OHEM) + dice_weight x (1 - soft Dice), over labelled pixels.

    - class_weights: null, inverse_log or median_frequency; set from the train split's label counts by
      `set_class_counts` before training (SegmentationModule.setup does it).
    - focal_gamma > 0: focal loss, (1 - p_t)^gamma x CE per pixel (down-weights pixels already right).
    - ohem_fraction in (0, 1): only the hardest fraction of labelled pixels per batch count (online hard example
      mining); 1: all pixels.
    - dice_weight > 0: adds 1 - mean soft Dice over all classes (smoothed by DICE_SMOOTH pixels).
    Cross-entropy's value is a mean over labelled pixels (weighted by class weight, as torch does); a batch with
    no labelled pixel gives 0.
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: int = 255,
        ce_weight: float = 1.0,
        class_weights: str | None = None,
        focal_gamma: float = 0.0,
        ohem_fraction: float = 1.0,
        dice_weight: float = 0.0,
    ) -> None:
        super().__init__()
        if ce_weight < 0 or dice_weight < 0 or ce_weight + dice_weight == 0:
            raise ConfigError(
                f"model.loss.ce_weight and model.loss.dice_weight must be >= 0 and not both 0;"
                f" got {ce_weight} and {dice_weight}"
            )
        if not 0 < ohem_fraction <= 1:
            raise ConfigError(f"model.loss.ohem_fraction must be in (0, 1]; got {ohem_fraction}")
        if focal_gamma < 0:
            raise ConfigError(f"model.loss.focal_gamma must be >= 0; got {focal_gamma}")
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.ce_weight, self.dice_weight = ce_weight, dice_weight
        self.class_weights_method, self.focal_gamma, self.ohem_fraction = class_weights, focal_gamma, ohem_fraction
        # Not persistent: a checkpoint's keys do not depend on the loss, and the weights follow the data.
        self.register_buffer("weight", torch.ones(num_classes), persistent=False)
        self.counted = class_weights is None

    def set_class_counts(self, counts: np.ndarray) -> None:
        """Class weights from the train split's pixel counts (no-op without class_weights)."""
        if self.class_weights_method is not None:
            self.weight.copy_(weights_from_counts(counts, self.num_classes, self.class_weights_method))
            self.counted = True

    @property
    def is_plain_cross_entropy(self) -> bool:
        return (
            self.class_weights_method is None
            and self.focal_gamma == 0
            and self.ohem_fraction == 1
            and self.dice_weight == 0
            and self.ce_weight == 1
        )

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if not self.counted:
            raise RuntimeError("SegmentationLoss: class weights requested but set_class_counts was never called")
        labelled = labels != self.ignore_index
        loss = logits.new_zeros((), dtype=torch.float32)
        if self.ce_weight > 0:
            loss = loss + self.ce_weight * self.pixel_loss(logits, labels, labelled)
        if self.dice_weight > 0:
            loss = loss + self.dice_weight * self.dice_loss(logits, labels, labelled)
        return loss

    def pixel_loss(self, logits: torch.Tensor, labels: torch.Tensor, labelled: torch.Tensor) -> torch.Tensor:
        weight = self.weight.to(logits.dtype) if self.class_weights_method else None
        if self.focal_gamma == 0 and self.ohem_fraction == 1:
            loss = F.cross_entropy(logits, labels, weight=weight, ignore_index=self.ignore_index)
            return torch.where(labelled.any(), loss, 0.0)
        per_pixel = F.cross_entropy(logits, labels, ignore_index=self.ignore_index, reduction="none").float()
        if self.focal_gamma > 0:
            p_true = torch.exp(-per_pixel)
            per_pixel = (1 - p_true) ** self.focal_gamma * per_pixel
        pixel_weight = labelled.float()
        if weight is not None:
            pixel_weight = pixel_weight * self.weight[labels.clamp(max=self.num_classes - 1)]
        if self.ohem_fraction < 1:
            losses = per_pixel[labelled]
            keep = max(1, int(self.ohem_fraction * losses.numel()))
            threshold = losses.detach().topk(keep).values[-1] if losses.numel() else per_pixel.new_zeros(())
            pixel_weight = pixel_weight * (per_pixel.detach() >= threshold)
        return (per_pixel * pixel_weight).sum() / pixel_weight.sum().clamp(min=1e-12)

    def dice_loss(self, logits: torch.Tensor, labels: torch.Tensor, labelled: torch.Tensor) -> torch.Tensor:
        probs = logits.float().softmax(1) * labelled.unsqueeze(1)
        target = F.one_hot(labels.clamp(max=self.num_classes - 1), self.num_classes).permute(0, 3, 1, 2)
        target = target * labelled.unsqueeze(1)
        dims = (0, 2, 3)
        intersection = (probs * target).sum(dims)
        total = probs.sum(dims) + target.sum(dims)
        # Smoothed, over every class: a class absent from the batch scores ~1 - its predicted mass (false positives).
        dice = (2 * intersection + DICE_SMOOTH) / (total + DICE_SMOOTH)
        return 1 - dice.mean()
