"""Every N epochs: the same validation samples as input | ground truth | prediction | uncertainty, under them
a legend of the classes shown (names and colours from the datamodule's label table).

Shown in TensorBoard (IMAGES tab, `val/predictions`) and saved as `<run>/images/val_epoch_<E>.png`, which
`python -m src.report` puts side by side for the runs of a sweep.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger

from src.figures.segmentation import denormalize, figure_to_array, prediction_grid, save_figure
from src.models.uncertainty import predict, predict_mc_dropout


def fixed_indices(length: int, count: int) -> list[int]:
    """`count` indices spread evenly over a dataset: the same samples every epoch and in every run."""
    count = min(count, length)
    return sorted({round(i * (length - 1) / max(count - 1, 1)) for i in range(count)})


class ValidationPredictions(Callback):
    """Draws `num_samples` fixed validation images with prediction and uncertainty every `every_n_epochs`.

    Uncertainty is the predictive entropy of the softmax, or of the MC-dropout mean with `mc_samples` >= 2.
    """

    def __init__(self, output_dir: str, every_n_epochs: int = 1, num_samples: int = 4, mc_samples: int = 0) -> None:
        if every_n_epochs < 1 or num_samples < 1 or mc_samples < 0:
            raise ValueError(
                "callbacks.validation_predictions: every_n_epochs and num_samples must be >= 1, mc_samples >= 0;"
                f" got {every_n_epochs}, {num_samples}, {mc_samples}"
            )
        self.out_dir = Path(output_dir) / "images"
        self.every_n_epochs, self.num_samples, self.mc_samples = every_n_epochs, num_samples, mc_samples

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch = trainer.current_epoch
        last = epoch + 1 >= (trainer.max_epochs or 0)
        if trainer.sanity_checking or not trainer.is_global_zero or (epoch % self.every_n_epochs and not last):
            return
        datamodule = trainer.datamodule
        dataset = datamodule.datasets["val"]
        samples = [dataset[i] for i in fixed_indices(len(dataset), self.num_samples)]
        weight = next(pl_module.parameters())  # a half-precision model (precision=bf16-true) wants half inputs
        images = torch.stack([torch.as_tensor(image) for image, _ in samples]).to(weight.device, weight.dtype)
        truths = [np.asarray(label) for _, label in samples]
        if self.mc_samples >= 2:
            result = predict_mc_dropout(pl_module, images, self.mc_samples)
        else:
            result = predict(pl_module, images)
        hp = datamodule.hparams
        fig = prediction_grid(
            [denormalize(image, hp.mean, hp.std) for image in images],
            truths,
            list(result.probs.argmax(1).cpu().numpy()),
            list(result.entropy.cpu().numpy()),
            datamodule.table.palette(),
            datamodule.class_names,
            vmax=math.log(result.probs.shape[1]),
            title=f"validation, epoch {epoch}",
        )
        save_figure(fig, self.out_dir / f"val_epoch_{epoch:03d}.png")
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(
                    "val/predictions", figure_to_array(fig), trainer.global_step, dataformats="HWC"
                )
