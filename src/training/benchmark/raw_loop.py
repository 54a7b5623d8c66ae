"""The plainest correct PyTorch training loop, over a copy of the LightningModule, to set Lightning's loop against.

It calls the module's own forward and loss (and, when asked, its training_step with the metrics), so the gap to
Trainer.fit is what Lightning's loop costs, not a difference in the work: no loss or metric is written again here.
Like a Trainer with its defaults, it neither clips gradients nor accumulates them.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator

import torch
from lightning import LightningDataModule
from torch.utils.data import DataLoader

from src.core.device_timing import sync
from src.training.module import SegmentationModule

AUTOCAST = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}  # trainer.precision -> autocast dtype


def cycle(loader: DataLoader) -> Iterator:
    """Batches forever, epoch after epoch."""
    while True:
        yield from loader


def training_loss(
    module: SegmentationModule, outputs: torch.Tensor | list[torch.Tensor], labels: torch.Tensor
) -> torch.Tensor:
    """The loss SegmentationModule's training step minimises, from the module's own loss objects, without its
    metrics: the heads' weighted objective for a deeply supervised net, else model.loss (plain cross-entropy
    through the module's criterion, as its step does)."""
    if isinstance(outputs, list):
        return module.deep_supervision_loss(outputs, labels)
    plain = module.objective.is_plain_cross_entropy
    return module.criterion(outputs, labels) if plain else module.objective(outputs, labels)


class RawLoop:
    """`warmup` untimed then `steps` timed training steps of a copy of `module`, with its own optimizer.

    The copy is taken before any training, so both paths start from the same weights.
    """

    def __init__(
        self,
        module: SegmentationModule,
        datamodule: LightningDataModule,
        device: torch.device,
        precision: str,
        warmup: int,
        steps: int,
    ) -> None:
        self.module = copy.deepcopy(module).to(device)
        if not self.module.objective.counted:  # class weights, as SegmentationModule.setup sets them for a Trainer
            self.module.objective.set_class_counts(datamodule.label_counts("train"))
        self.optimizer = self.module.optimizer_factory(params=self.module.parameters())
        self.batches = cycle(datamodule.train_dataloader())
        self.device, self.warmup, self.steps = device, warmup, steps
        self.autocast_dtype = AUTOCAST.get(precision)  # None: 32-true, no autocast

    def images_per_s(self, with_metrics: bool = False) -> float:
        """Images/s of the timed steps. Without metrics each step is the module's forward and loss, backward and
        optimizer step; with them it is the module's training_step (loss and the train/* metrics' updates)."""
        self.module.train()
        images_seen = 0
        for step in range(self.warmup + self.steps):
            if step == self.warmup:
                sync(self.device)
                start = time.perf_counter()
            images, labels = (t.to(self.device, non_blocking=True) for t in next(self.batches))
            with torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
                if with_metrics:
                    loss = self.module.training_step((images, labels), step)
                else:
                    loss = training_loss(self.module, self.module(images), labels.long())
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            if step >= self.warmup:
                images_seen += len(images)
        sync(self.device)
        return images_seen / (time.perf_counter() - start)

    def operator_shares(self, rows: int) -> list[dict]:
        """Self time per operator over one round without metrics (torch.profiler): the `rows` largest, with their
        share of all operators' self time and their number of calls."""
        from torch.profiler import ProfilerActivity, profile

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if self.device.type == "cuda" else [])
        with profile(activities=activities) as prof:
            self.images_per_s()
        events = prof.key_averages()
        total = sum(e.self_cpu_time_total for e in events)
        top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:rows]
        return [{"op": e.key, "share": e.self_cpu_time_total / total, "calls": e.count} for e in top]
