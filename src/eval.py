"""Score a trained checkpoint: `python -m src.eval ckpt_path=<run>/checkpoints/<best>.ckpt [data=...]`.

Writes into its run folder (outputs/eval/<date>/<time>/): metrics.json (loss, pixel accuracy, mIoU, ECE,
error-AUROC of the softmax prediction; the same for the MC-dropout mean only with mc_samples >= 2, which is
opt-in because it costs mc_samples extra passes), class_metrics.csv/.md (IoU and accuracy per class),
confusion_matrix.csv/.png (rows normalised in the PNG) and reliability.png (one column per way of
predicting). See conf/eval.yaml; the work is src/inference/split_evaluation.py's.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from src.cli.composition_errors import one_line_config_errors
from src.cli.exit_on_user_error import exit_on_user_error
from src.inference.evaluation_files import print_class_table
from src.inference.split_evaluation import evaluate, score_lines

log = logging.getLogger(__name__)
MC_HINT = "MC-dropout scores are off (mc_samples=0); add mc_samples=20 for them too, at ~16x the time"


@one_line_config_errors
@hydra.main(version_base="1.3", config_path="../conf", config_name="eval.yaml")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    summary = evaluate(cfg)
    print_class_table(summary["classes"], f"{cfg.split} split, per class ({Path(cfg.ckpt_path).name})")
    for line in score_lines(summary):
        log.info(line)
    if cfg.mc_samples < 2:  # asked for but impossible (no dropout) was already a warning of mc_samples_for
        log.info(MC_HINT)
    out_dir = Path(cfg.paths.output_dir)
    log.info("wrote metrics.json, class_metrics.csv/.md, confusion_matrix.csv/.png, reliability.png to %s", out_dir)


if __name__ == "__main__":
    main()
