"""Scoring a trained checkpoint on one labelled split: `python -m src.eval` as a function.

Loads the run, scores it with `Evaluation` under a Lightning Trainer (device, precision, progress bar), writes
metrics.json and the files of src/inference/evaluation_files.py, and returns what metrics.json holds.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig

from src.core.atomic_files import write_json_atomically
from src.core.errors import ConfigError
from src.inference.evaluation import MC, SOFTMAX, Evaluation
from src.inference.evaluation_files import write_evaluation_files
from src.inference.trained_run import load_trained_run, refuse_model_settings
from src.models.uncertainty import mc_samples_for

SPLITS = ("test", "val")


def check_eval_args(cfg: DictConfig) -> None:
    """eval's settings that cannot work, named by key, before anything is loaded."""
    if cfg.split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}; got {cfg.split!r}")
    if cfg.ece_bins < 1:  # its type: conf/eval.yaml's schema (src/cli/tool_configs.py)
        raise ConfigError(f"ece_bins must be a whole number >= 1, got {cfg.ece_bins!r}")


def evaluate(cfg: DictConfig) -> dict:
    """Score the checkpoint on the split and write the files; returns what metrics.json holds."""
    check_eval_args(cfg)
    refuse_model_settings(cfg)
    run = load_trained_run(cfg.ckpt_path, cfg.paths, cfg.get("data"), cfg.prune_level, cfg.ds_mode)
    datamodule = instantiate(run.config.data)
    if not datamodule.has_split(cfg.split):
        raise ConfigError(f"{datamodule.name} at {datamodule.root} has no {cfg.split} split; try split=val")
    mc_samples = mc_samples_for(run.module, cfg.mc_samples)
    datamodule.prepare_data()
    datamodule.setup("test" if cfg.split == "test" else "validate")
    loader = datamodule.test_dataloader() if cfg.split == "test" else datamodule.val_dataloader()

    evaluation = Evaluation(
        run.module, datamodule.table.num_classes, run.module.hparams.ignore_index, cfg.ece_bins, mc_samples
    )
    trainer = L.Trainer(
        accelerator=cfg.accelerator,
        devices=1,
        precision=cfg.precision,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    trainer.test(evaluation, dataloaders=loader, verbose=False)

    out_dir = Path(cfg.paths.output_dir)
    split = cfg.split
    summary: dict = {"ckpt_path": str(run.ckpt_path), "dataset": datamodule.name, "root": str(datamodule.root)}
    summary |= {"split": split, "images": len(loader.dataset), "prune_level": cfg.prune_level}
    summary["device"] = str(trainer.strategy.root_device)  # where it ran (accelerator=auto picks a GPU when present)
    summary["mc_samples"] = mc_samples  # 0: no mc_dropout scores below (not asked for, or a net without dropout)
    for name, result in evaluation.results.items():
        scores = {f"{split}/{k}": v for k, v in result["scores"].items()}
        summary[split if name == SOFTMAX else MC] = scores | ({"samples": mc_samples} if name == MC else {})
    summary["classes"] = write_evaluation_files(evaluation.results, datamodule.class_names, split, mc_samples, out_dir)
    write_json_atomically(out_dir / "metrics.json", summary)
    return summary


def score_lines(summary: dict) -> list[str]:
    """One line per way of predicting, from what `evaluate` returns: 'softmax: loss 0.1234, acc 0.9012, ...'."""
    split = summary["split"]
    lines = []
    for name, key in ((SOFTMAX, split), (MC, MC)):
        if key in summary:
            scores = {k.removeprefix(f"{split}/"): v for k, v in summary[key].items() if k != "samples"}
            lines.append(f"{name}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
    return lines
