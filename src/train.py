"""Train and test a segmentation model: `python -m src.train [overrides]` (see conf/train.yaml)."""

from __future__ import annotations

import hydra
import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from src.cli.composition_errors import one_line_config_errors
from src.cli.config_checks import check_config
from src.cli.exit_on_user_error import exit_on_user_error
from src.core.config_tree import print_config_tree
from src.core.ddp_in_multirun import ddp_as_one_job
from src.core.instantiate import instantiate_group
from src.sweeps.resume import finished_job
from src.training.fit_resume import fit_checkpoint


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit, then test the best checkpoint; returns every logged metric (fit's, then test's)."""
    check_config(cfg)  # every value, before any data is read or network built
    if cfg.print_config:
        print_config_tree(cfg)
    if cfg.seed is not None:
        L.seed_everything(cfg.seed, workers=True)

    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_group(cfg.get("logger"))
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    if cfg.train:
        trainer.fit(model, datamodule=datamodule, ckpt_path=fit_checkpoint(cfg))
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}

    if cfg.test and datamodule.has_split("test"):  # CamVid's public test split, for one, may be withheld
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        trainer.test(model, datamodule=datamodule, ckpt_path=best or (None if cfg.train else cfg.ckpt_path))
        metrics |= {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
    return metrics


@one_line_config_errors
@hydra.main(version_base="1.3", config_path="../conf", config_name="train.yaml")
@exit_on_user_error
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns the metric a sweep optimises (`optimized_metric`)."""
    if (earlier := finished_job(cfg)) is not None:  # resume=true in a sweep: a finished job is not run again
        return earlier.return_value
    with ddp_as_one_job():
        metrics = train(cfg)
    return metrics.get(cfg.optimized_metric) if cfg.get("optimized_metric") else None


if __name__ == "__main__":
    main()
