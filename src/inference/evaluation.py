"""Everything `python -m src.eval` measures on one split, as a LightningModule around a trained network.

Lightning runs the loop (device, precision, progress bar); torchmetrics states accumulate and sync under DDP.
Scores: loss, pixel accuracy, (per-class) IoU from the confusion matrix; calibration (ECE, reliability bins);
how well per-pixel entropy finds the wrong pixels (AUROC). With `mc_samples` >= 2 the same scores again for
the MC-dropout mean, plus the AUROC of its mutual information.
"""

from __future__ import annotations

import math

import torch
from lightning import LightningModule
from torch import nn

from src.metrics.calibration import ReliabilityBins
from src.metrics.confusion import ConfusionMatrix, iou_per_class, mean_iou, pixel_accuracy
from src.metrics.error_detection import ErrorDetectionAUROC
from src.metrics.weighted_mean import WeightedMean
from src.models.uncertainty import Prediction, predict, predict_mc_dropout

SOFTMAX, MC = "softmax", "mc_dropout"


class Scores(nn.Module):
    """The metric states of one way of predicting (softmax or MC-dropout mean)."""

    def __init__(self, num_classes: int, ignore_index: int, ece_bins: int, mutual_information: bool) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.nll = WeightedMean()
        self.confmat = ConfusionMatrix(num_classes, ignore_index)
        self.reliability = ReliabilityBins(ece_bins, ignore_index)
        max_entropy = math.log(num_classes)  # both entropy and mutual information lie in [0, log C]
        self.auroc_entropy = ErrorDetectionAUROC(max_entropy, ignore_index=ignore_index)
        self.auroc_mi = ErrorDetectionAUROC(max_entropy, ignore_index=ignore_index) if mutual_information else None

    def update(self, result: Prediction, labels: torch.Tensor) -> None:
        confidence, prediction = result.probs.max(1)
        wrong = prediction != labels
        keep = labels != self.ignore_index
        picked = result.probs.gather(1, torch.where(keep, labels, 0).unsqueeze(1)).squeeze(1)
        nll = -(picked.clamp_min(torch.finfo(torch.float32).tiny).log() * keep).sum() / keep.sum().clamp_min(1)
        self.nll.update(nll, weight=keep.sum())  # weighted by labelled pixels: the loss over all pixels of the split
        self.confmat.update(prediction, labels)
        self.reliability.update(confidence, ~wrong, labels)
        self.auroc_entropy.update(result.entropy, wrong, labels)
        if self.auroc_mi is not None:
            self.auroc_mi.update(result.mutual_information, wrong, labels)

    def compute(self) -> dict:
        confmat = self.confmat.compute()
        reliability = self.reliability.compute()
        scores = {
            "loss": float(self.nll.compute()),
            "acc": float(pixel_accuracy(confmat)),
            "miou": float(mean_iou(confmat)),
            "ece": float(reliability["ece"]),
            "error_auroc": float(self.auroc_entropy.compute()),
        }
        if self.auroc_mi is not None:
            scores["error_auroc_mutual_information"] = float(self.auroc_mi.compute())
        return {
            "scores": scores,
            "confmat": confmat.cpu(),
            "class_iou": iou_per_class(confmat).cpu(),
            "reliability": {k: v.cpu() for k, v in reliability.items()},
        }


class Evaluation(LightningModule):
    """Runs `net` over the test loader; `results` holds the scores per way of predicting after `trainer.test`."""

    def __init__(
        self, net: nn.Module, num_classes: int, ignore_index: int = 255, ece_bins: int = 15, mc_samples: int = 0
    ) -> None:
        super().__init__()
        self.net, self.mc_samples = net, mc_samples
        self.scores = nn.ModuleDict({SOFTMAX: Scores(num_classes, ignore_index, ece_bins, False)})
        if mc_samples >= 2:
            self.scores[MC] = Scores(num_classes, ignore_index, ece_bins, True)
        self.results: dict[str, dict] = {}

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, labels = batch
        labels = labels.long()
        self.scores[SOFTMAX].update(predict(self.net, images), labels)
        if self.mc_samples >= 2:
            self.scores[MC].update(predict_mc_dropout(self.net, images, self.mc_samples), labels)

    def on_test_epoch_end(self) -> None:
        self.results = {name: scores.compute() for name, scores in self.scores.items()}
