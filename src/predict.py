"""Segment images with a trained checkpoint: `python -m src.predict ckpt_path=... input=<image or folder>`.

For each image, at its own resolution, into the run folder (outputs/predict/<date>/<time>/, mirroring the
input's sub-folders): `<name>_label.png` (class indices), `<name>_color.png` (the label table's colours),
`<name>_overlay.png` (mask over the photo) and `<name>_uncertainty.png` (predictive entropy, black = certain,
bright = log(C) nats; from the MC-dropout mean with mc_samples >= 2), all four pixel-aligned with the input;
and `<name>_overlay_legend.png`, the overlay with a legend strip (swatch and name of each predicted class)
under it. predictions.json lists them all, and the classes present in each image.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import hydra
import numpy as np
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig
from PIL import Image
from rich.progress import track

from src.cli.composition_errors import one_line_config_errors
from src.cli.exit_on_user_error import exit_on_user_error
from src.core.atomic_files import write_json_atomically
from src.core.errors import ConfigError, DataError
from src.data.datamodule import check_size
from src.data.decode import read_image, resize_image
from src.data.folder import IMAGE_EXTENSIONS
from src.data.labels import ClassTable
from src.figures.legend import present_classes, with_legend_below
from src.figures.segmentation import colorize, heatmap, overlay
from src.inference.trained_run import load_trained_run, refuse_model_settings
from src.inference.uncertainty import Prediction, entropy, mc_samples_for, predict, predict_mc_dropout

log = logging.getLogger(__name__)
DEVICES = ("auto", "cpu", "cuda")


def find_images(input_path: str | None) -> tuple[Path, list[Path]]:
    """(the folder outputs are relative to, the images): one file, or every image under a folder."""
    if not input_path:
        raise ConfigError("input is required: an image file or a folder of images, e.g. input=photo.png")
    path = Path(input_path).expanduser()
    if path.is_file():
        return path.parent, [path]
    if not path.is_dir():
        raise ConfigError(f"input={input_path}: no such file or folder ({path.resolve()})")
    images = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not images:
        raise ConfigError(f"input={input_path}: no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) in {path.resolve()}")
    seen: dict[Path, Path] = {}
    for image in images:  # a.png and a.jpg would write the same a_label.png
        stem = image.relative_to(path).with_suffix("")
        if stem in seen:
            raise ConfigError(f"input={input_path}: {seen[stem]} and {image} would write the same outputs; rename one")
        seen[stem] = image
    return path, images


def check_predict_args(cfg: DictConfig) -> None:
    """Settings that cannot work, named by key, before anything is loaded."""
    if isinstance(cfg.alpha, bool) or not isinstance(cfg.alpha, (int, float)) or not 0 <= cfg.alpha <= 1:
        raise ConfigError(f"alpha must be a number from 0 (photo only) to 1 (mask only), got {cfg.alpha!r}")
    if cfg.device not in DEVICES:
        raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {cfg.device!r}")
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but PyTorch sees no CUDA GPU; use device=auto or device=cpu")
    if cfg.size is not None:
        check_size(cfg.size, key="size")


def maybe_cpu(tensor: torch.Tensor | None) -> torch.Tensor | None:
    return None if tensor is None else tensor.cpu()


def to_input_size(result: Prediction, height: int, width: int) -> Prediction:
    """Probabilities resized (bilinear) to the input's resolution, and the uncertainty recomputed there."""
    if result.probs.shape[-2:] == (height, width):
        return result
    probs = F.interpolate(result.probs, size=(height, width), mode="bilinear", align_corners=False)
    mutual_information = result.mutual_information
    if mutual_information is not None:
        mutual_information = F.interpolate(mutual_information[:, None], size=(height, width), mode="bilinear")[:, 0]
    return Prediction(probs, entropy(probs), mutual_information)


def write_outputs(photo: np.ndarray, result: Prediction, table: ClassTable, stem: Path, alpha: float) -> dict:
    """The five PNGs of one image; returns their paths, the classes predicted and the mean uncertainty.

    The legend goes into a file of its own rather than into `_color`/`_overlay`, so those stay pixel-aligned
    with the input (same size, pixel for pixel) for tools that stack or compare them.
    """
    labels = result.probs[0].argmax(0).byte().cpu().numpy()
    uncertainty = result.entropy[0].cpu().numpy()
    palette = table.palette()
    colours = colorize(labels, palette)
    blended = overlay(photo, colours, alpha)
    classes = present_classes([labels], table.num_classes)
    max_entropy = math.log(result.probs.shape[1])
    files = {
        "label": (labels, "_label.png"),
        "color": (colours, "_color.png"),
        "overlay": (blended, "_overlay.png"),
        "uncertainty": (heatmap(uncertainty, max_entropy), "_uncertainty.png"),
        "overlay_legend": (with_legend_below(blended, classes, table.names, palette), "_overlay_legend.png"),
    }
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = {}
    for kind, (array, suffix) in files.items():
        path = stem.with_name(stem.name + suffix)
        Image.fromarray(array).save(path)
        written[kind] = str(path)
    written["classes_present"] = [table.names[i] for i in classes]
    written["mean_entropy"] = float(uncertainty.mean())
    if result.mutual_information is not None:
        written["mean_mutual_information"] = float(result.mutual_information.mean())
    return written


def predict_images(cfg: DictConfig) -> dict:
    """Predict every input image; returns what predictions.json holds. Unreadable images are listed, not fatal."""
    check_predict_args(cfg)
    root, images = find_images(cfg.input)
    refuse_model_settings(cfg)
    run = load_trained_run(cfg.ckpt_path, cfg.paths, None, cfg.prune_level, cfg.ds_mode)
    use_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if use_cuda else "cpu")
    module = run.module.to(device)
    data = run.config.data
    table = instantiate(data).table  # class names and colours; nothing is read from disk
    size = tuple(cfg.size or data.size)
    mc_samples = mc_samples_for(module, cfg.mc_samples)
    mean, std = np.asarray(data.mean, np.float32), np.asarray(data.std, np.float32)
    out_dir = Path(cfg.paths.output_dir)
    done, failed = [], []
    for path in track(images, description=f"predicting {len(images)} image(s)"):
        try:
            photo, _ = read_image(path)
        except (DataError, FileNotFoundError) as err:
            failed.append({"input": str(path), "error": str(err)})
            log.error("DataError: %s", err)
            continue
        x = (resize_image(photo, size).astype(np.float32) / 255 - mean) / std
        x = torch.from_numpy(x).permute(2, 0, 1)[None].to(device)
        result = predict_mc_dropout(module, x, mc_samples) if mc_samples else predict(module, x)
        result = Prediction(result.probs.cpu(), result.entropy.cpu(), maybe_cpu(result.mutual_information))
        result = to_input_size(result, *photo.shape[:2])  # on the CPU: a large photo's C x H x W probabilities
        stem = out_dir / path.relative_to(root).with_suffix("")
        done.append(
            {"input": str(path), "size": list(photo.shape[:2])} | write_outputs(photo, result, table, stem, cfg.alpha)
        )
    summary = {
        "ckpt_path": str(run.ckpt_path),
        "network_input_size": list(size),
        "mc_samples": mc_samples,
        "uncertainty": "predictive entropy (nats) of the MC-dropout mean" if mc_samples else "softmax entropy (nats)",
        "classes": list(table.names),
        "images": done,
        "failed": failed,
    }
    write_json_atomically(out_dir / "predictions.json", summary)
    log.info("%d image(s) predicted into %s", len(done), out_dir)
    if failed:
        raise DataError(f"{len(failed)} of {len(images)} image(s) could not be read, e.g. {failed[0]['error']}")
    return summary


@one_line_config_errors
@hydra.main(version_base="1.3", config_path="../conf", config_name="predict.yaml")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    predict_images(cfg)


if __name__ == "__main__":
    main()
