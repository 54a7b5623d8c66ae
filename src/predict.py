"""Segment images with a trained checkpoint: `python -m src.predict ckpt_path=... input=<image or folder>`.

For each image, at its own resolution, into the run folder (outputs/predict/<date>/<time>/, mirroring the
input's sub-folders): `<name>_label.png` (class indices), `<name>_color.png` (the label table's colours),
`<name>_overlay.png` (mask over the photo) and `<name>_uncertainty.png` (predictive entropy, black = certain,
bright = log(C) nats; from the MC-dropout mean with mc_samples >= 2), all four pixel-aligned with the input;
and `<name>_overlay_legend.png`, the overlay with a legend strip (swatch and name of each predicted class)
under it. predictions.json lists them all, and the classes present in each image. See conf/predict.yaml; the
work is src/inference/image_prediction.py's.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from src.cli.composition_errors import one_line_config_errors
from src.cli.exit_on_user_error import exit_on_user_error
from src.core.errors import DataError
from src.inference.image_prediction import predict_images

log = logging.getLogger(__name__)


@one_line_config_errors
@hydra.main(version_base="1.3", config_path="../conf", config_name="predict.yaml")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    summary = predict_images(cfg)
    done, failed = summary["images"], summary["failed"]
    log.info("%d image(s) predicted into %s", len(done), Path(cfg.paths.output_dir))
    if failed:  # the others are written: an unreadable file is reported, not a reason to stop
        count = len(done) + len(failed)
        raise DataError(f"{len(failed)} of {count} image(s) could not be read, e.g. {failed[0]['error']}")


if __name__ == "__main__":
    main()
