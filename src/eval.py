"""Score a trained checkpoint: `python -m src.eval ckpt_path=<run>/checkpoints/<best>.ckpt [data=...]`.

Writes into its run folder (outputs/eval/<date>/<time>/): metrics.json (loss, pixel accuracy, mIoU, ECE,
error-AUROC of the softmax prediction; the same for the MC-dropout mean only with mc_samples >= 2, which is
opt-in because it costs mc_samples extra passes), class_metrics.csv/.md (IoU and accuracy per class),
confusion_matrix.csv/.png (rows normalised in the PNG) and reliability.png (one column per way of
predicting). See conf/eval.yaml.
"""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from src.cli.composition_errors import one_line_config_errors
from src.cli.exit_on_user_error import exit_on_user_error
from src.core.atomic_files import write_json_atomically
from src.core.errors import ConfigError
from src.figures.calibration import reliability_diagram
from src.figures.confusion import confusion_figure
from src.figures.segmentation import save_figure
from src.inference.evaluation import MC, SOFTMAX, Evaluation
from src.inference.trained_run import load_trained_run, refuse_model_settings
from src.inference.uncertainty import mc_samples_for

log = logging.getLogger(__name__)
SPLITS = ("test", "val")
MC_HINT = "MC-dropout scores are off (mc_samples=0); add mc_samples=20 for them too, at ~16x the time"


def class_rows(confmat: torch.Tensor, class_iou: torch.Tensor, names: list[str]) -> list[dict]:
    """Per class: labelled pixels, predicted pixels, IoU and accuracy (share of its pixels predicted right)."""
    counts = confmat.double()
    labelled, predicted, right = counts.sum(1), counts.sum(0), counts.diag()
    rows = []
    for i, name in enumerate(names):
        accuracy = float(right[i] / labelled[i]) if labelled[i] > 0 else math.nan
        iou = float(class_iou[i])
        rows.append(
            {
                "class": name,
                "index": i,
                "pixels": int(labelled[i]),
                "predicted": int(predicted[i]),
                "iou": iou,
                "accuracy": accuracy,
            }
        )
    return rows


def write_class_tables(rows: list[dict], out_dir: Path) -> None:
    """class_metrics.csv (every class) and class_metrics.md (classes present in labels or predictions)."""
    with open(out_dir / "class_metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| class | pixels | IoU | accuracy |", "|---|---:|---:|---:|"]
    for row in rows:
        if row["pixels"] or row["predicted"]:
            lines.append(f"| {row['class']} | {row['pixels']} | {fmt(row['iou'])} | {fmt(row['accuracy'])} |")
    (out_dir / "class_metrics.md").write_text("\n".join(lines) + "\n")


def write_confusion_csv(confmat: torch.Tensor, names: list[str], path: Path) -> None:
    """Counts; rows are true classes, columns predicted ones."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["true \\ predicted", *names])
        for name, row in zip(names, confmat.tolist(), strict=True):
            writer.writerow([name, *row])


def fmt(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def print_class_table(rows: list[dict], title: str) -> None:
    table = Table(title=title)
    for column, justify in (("class", "left"), ("pixels", "right"), ("IoU", "right"), ("accuracy", "right")):
        table.add_column(column, justify=justify)
    for row in rows:
        if row["pixels"] or row["predicted"]:
            table.add_row(row["class"], str(row["pixels"]), fmt(row["iou"]), fmt(row["accuracy"]))
    Console().print(table)


def evaluate(cfg: DictConfig) -> dict:
    """Score the checkpoint on the split and write the files; returns what metrics.json holds."""
    if cfg.split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}; got {cfg.split!r}")
    if isinstance(cfg.ece_bins, bool) or not isinstance(cfg.ece_bins, int) or cfg.ece_bins < 1:
        raise ConfigError(f"ece_bins must be a whole number >= 1, got {cfg.ece_bins!r}")
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
    names = datamodule.class_names
    split = cfg.split
    summary: dict = {"ckpt_path": str(run.ckpt_path), "dataset": datamodule.name, "root": str(datamodule.root)}
    summary |= {"split": split, "images": len(loader.dataset), "prune_level": cfg.prune_level}
    summary["mc_samples"] = mc_samples  # 0: no mc_dropout scores below (not asked for, or a net without dropout)
    for name, result in evaluation.results.items():
        scores = {f"{split}/{k}": v for k, v in result["scores"].items()}
        summary[split if name == SOFTMAX else MC] = scores | ({"samples": mc_samples} if name == MC else {})
    softmax = evaluation.results[SOFTMAX]
    rows = class_rows(softmax["confmat"], softmax["class_iou"], names)
    summary["classes"] = rows
    write_class_tables(rows, out_dir)
    write_confusion_csv(softmax["confmat"], names, out_dir / "confusion_matrix.csv")
    save_figure(
        confusion_figure(softmax["confmat"], names, f"confusion matrix, {split} split (rows sum to 1)"),
        out_dir / "confusion_matrix.png",
    )
    bins = {
        n if n == SOFTMAX else f"MC dropout ({mc_samples})": r["reliability"] for n, r in evaluation.results.items()
    }
    save_figure(reliability_diagram(bins, f"reliability, {split} split"), out_dir / "reliability.png")
    write_json_atomically(out_dir / "metrics.json", summary)

    print_class_table(rows, f"{split} split, per class ({Path(cfg.ckpt_path).name})")
    for name, result in evaluation.results.items():
        line = ", ".join(f"{k} {v:.4f}" for k, v in result["scores"].items())
        log.info("%s: %s", name, line)
    if cfg.mc_samples < 2:  # asked for but impossible (no dropout) was already a warning of mc_samples_for
        log.info(MC_HINT)
    log.info("wrote metrics.json, class_metrics.csv/.md, confusion_matrix.csv/.png, reliability.png to %s", out_dir)
    return summary


@one_line_config_errors
@hydra.main(version_base="1.3", config_path="../conf", config_name="eval.yaml")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    main()
