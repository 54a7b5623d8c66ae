"""The LightningModule: loss, metrics and logging around any segmentation network; it knows nothing of files."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from typing import Literal

import torch
from lightning import LightningModule
from lightning.pytorch.utilities.warnings import PossibleUserWarning
from torch import nn
from torchmetrics import MaxMetric

from src.metrics.confusion import ConfusionMatrix, iou_per_class, mean_iou, pixel_accuracy
from src.metrics.weighted_mean import WeightedMean
from src.models.architecture import check_checkpoint_fits
from src.training.callbacks.time_budget import TimeBudget
from src.training.losses.segmentation_loss import SegmentationLoss

STAGES = ("train", "val", "test")
# The module logs values it has already reduced over processes (see _log_epoch_metrics); Lightning's advice to add
# sync_dist=True would bring back the lazy reduction that deadlocks DDP.
warnings.filterwarnings(
    "ignore", message=r".*self\.log\('(train|val|test)/.*sync_dist=True", category=PossibleUserWarning
)


class SegmentationModule(LightningModule):
    """Trains `net` on `loss` (model.loss: any objective); logs `<stage>/loss`, `<stage>/acc`, `<stage>/miou`.

    `<stage>/loss` is always the cross-entropy of the prediction, so runs trained on different objectives compare.
    The network, optimizer, scheduler and loss are injected (Hydra `_partial_` configs), so any model plugs in;
    `scheduler_interval` (set by each conf/model/scheduler/*.yaml) says whether the schedule counts steps or epochs.
    Metrics accumulate on the device and are read once per epoch: the step never syncs with the host.

    A net that returns a list in training is deeply supervised (one logits tensor per head, UNet++): it is
    trained on the mean of the heads' losses weighted by `net.head_weights`, logged as `train/loss_ds`, while
    `<stage>/loss`, acc and mIoU score the prediction the net makes in eval mode (`net.predict_from_heads`),
    so train and val curves measure the same thing.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        scheduler_interval: Literal["step", "epoch"] = "epoch",
        num_classes: int = 34,
        ignore_index: int = 255,
        channels_last: bool = True,
        compile: bool = False,
        loss: SegmentationLoss | None = None,
    ) -> None:
        super().__init__()
        # Only plain values go into checkpoints, so they load with torch.load(weights_only=True).
        self.save_hyperparameters(logger=False, ignore=["net", "optimizer", "scheduler", "loss"])
        self.net = net
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        # NHWC lets oneDNN / cuDNN pick faster convolution kernels (measured ~1.2x on a 2-core CPU, width 16).
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.net.to(memory_format=self.memory_format)
        if compile:  # Module.compile works in place: parameter names, and so checkpoints, stay those of `net`
            # Where it cannot compile (no C compiler, an unsupported op or platform), run eager with dynamo's own
            # warning naming the failure, instead of ending the run at the first step.
            torch._dynamo.config.suppress_errors = True
            self.net.compile()
        # `criterion` is what <stage>/loss reports, whatever the objective; `objective` is what training minimises.
        self.criterion = nn.CrossEntropyLoss(ignore_index=ignore_index)
        self.objective = loss or SegmentationLoss(num_classes, ignore_index)  # model.loss
        for stage in STAGES:
            setattr(self, f"{stage}_loss", WeightedMean())  # never syncs with the host (see its docstring)
            setattr(self, f"{stage}_confmat", ConfusionMatrix(num_classes, ignore_index=ignore_index))
        self.train_loss_ds = WeightedMean()  # the deep-supervision objective, when there is one
        self.val_miou_best = MaxMetric(sync_on_compute=False)  # fed the already-reduced val/miou
        self.val_miou_best.persistent(True)  # kept in checkpoints, so a resumed run remembers its best
        self.test_class_iou: torch.Tensor | None = None
        self.val_class_iou: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.contiguous(memory_format=self.memory_format))

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        images, labels = batch
        labels = labels.long()
        labelled = (labels != self.hparams.ignore_index).sum()  # losses average over pixels, not over batches
        outputs = self(images)
        train_objective = stage == "train" and not self.objective.is_plain_cross_entropy
        if isinstance(outputs, torch.Tensor):
            loss = self.objective(outputs, labels) if train_objective else self.criterion(outputs, labels)
            logits = outputs.detach()
            with torch.no_grad():
                prediction_loss = self.criterion(logits, labels) if train_objective else loss.detach()
        else:
            loss = self.deep_supervision_loss(outputs, labels)
            self.train_loss_ds.update(torch.where(labelled > 0, loss.detach(), 0.0), labelled)
            with torch.no_grad():
                logits = self.net.predict_from_heads([z.detach() for z in outputs])
                prediction_loss = self.criterion(logits, labels)
        # A batch whose pixels are all ignored has CE 0/0 = NaN: it counts 0 (its gradients are 0 either way), so
        # the non-finite-loss check stops only real divergence.
        loss = torch.where(labelled > 0, loss, 0.0)
        prediction_loss = torch.where(labelled > 0, prediction_loss, 0.0)
        getattr(self, f"{stage}_loss").update(prediction_loss, weight=labelled)
        # max().indices: the same classes as argmax, ~1.7x faster on CPU (4.4 vs 7.8 ms for a 4x34x128x256 batch).
        getattr(self, f"{stage}_confmat").update(logits.max(1).indices, labels)
        return loss

    def deep_supervision_loss(self, outputs: list[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        """The mean of the heads' training losses (model.loss), weighted by `net.head_weights` (which sum to 1)."""
        weights = self.net.head_weights
        return sum(w * self.objective(z, labels) for w, z in zip(weights, outputs, strict=True))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def _log_epoch_metrics(self, stage: str) -> torch.Tensor:
        """Reduce the stage's metrics over processes here, and log the results; returns the confusion matrix.

        Every cross-process reduction happens in this module hook, which every rank runs at the same point, and
        what goes to `self.log` is already global (so `sync_dist=False`). Logging the metric objects, or values with
        sync_dist=True, would leave Lightning to reduce them lazily when something first reads the logged values;
        the progress bar does that on rank 0 only (Lightning issues 19604, 21264), and the ranks' collectives then
        pair up wrongly: a crash or a hang under DDP.
        """
        metrics = {f"{stage}/loss": getattr(self, f"{stage}_loss")}
        if stage == "train" and self.train_loss_ds.update_called:
            metrics["train/loss_ds"] = self.train_loss_ds
        values = {name: metric.compute() for name, metric in metrics.items()}
        confmat_metric = getattr(self, f"{stage}_confmat")
        confmat = confmat_metric.compute()
        for metric in (*metrics.values(), confmat_metric):
            metric.reset()
        values[f"{stage}/acc"] = pixel_accuracy(confmat)
        values[f"{stage}/miou"] = mean_iou(confmat)
        for name, value in values.items():
            self.log(name, value, prog_bar=name not in ("train/loss_ds", "train/miou"), sync_dist=False)
        return confmat

    def on_train_epoch_end(self) -> None:
        self._log_epoch_metrics("train")

    def on_validation_epoch_end(self) -> None:
        confmat = self._log_epoch_metrics("val")
        if self.trainer.sanity_checking:  # a few batches of an untrained net must not become the best score
            return
        self.val_class_iou = iou_per_class(confmat).cpu()  # once per epoch, for metrics.json's best epoch
        self.val_miou_best.update(mean_iou(confmat))  # the same value on every rank: no reduction needed
        self.log("val/miou_best", self.val_miou_best.compute(), prog_bar=True, sync_dist=False)

    def on_test_epoch_end(self) -> None:
        self.test_class_iou = iou_per_class(self._log_epoch_metrics("test")).cpu()

    def setup(self, stage: str) -> None:
        """Class weights for the loss, from the train split's label counts (read from the data cache: no pass)."""
        datamodule = self.trainer.datamodule  # setup is called by a Trainer
        if stage == "fit" and not self.objective.counted and hasattr(datamodule, "label_counts"):
            self.objective.set_class_counts(datamodule.label_counts("train"))

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Refuse, by name, a checkpoint of another class count or architecture (not a size-mismatch traceback)."""
        what = "ckpt_path: the checkpoint"
        check_checkpoint_fits(checkpoint, self.state_dict(), self.hparams.num_classes, what, "this config")

    def configure_optimizers(self) -> dict:
        """The optimizer and schedule, stepped per model.scheduler_interval. A per-step schedule (poly, warm-up
        cosine, one-cycle) is completed with the run's planned steps and, if it follows trainer.max_time (takes
        `budget_used`), with the time budget's clock (src/training/callbacks/time_budget.py): it ends at whichever
        comes first. A per-epoch schedule (cosine) is given the optimizer only."""
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return {"optimizer": optimizer}
        interval = self.hparams.scheduler_interval
        completion = {}
        if interval == "step":
            completion["total_steps"] = int(self.trainer.estimated_stepping_batches)  # from max_epochs or max_steps
            budget = next((c for c in self.trainer.callbacks if isinstance(c, TimeBudget)), None)
            if budget is not None and "budget_used" in inspect.signature(self.scheduler_factory).parameters:
                completion["budget_used"] = budget.budget_used
        scheduler = self.scheduler_factory(optimizer=optimizer, **completion)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": interval}}
