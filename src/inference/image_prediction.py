"""Segmenting image files with a trained checkpoint: `python -m src.predict` as a function.

Each image is resized to the network's input size, predicted (one softmax pass, or the MC-dropout mean with
mc_samples >= 2), and its probabilities resized back to the image's own resolution, where the files of
src/inference/prediction_files.py are written; predictions.json lists them all.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig
from rich.progress import track

from src.core.atomic_files import write_json_atomically
from src.core.errors import ConfigError, DataError
from src.data.datamodule import check_size
from src.data.decode import read_image, resize_image
from src.data.folder import IMAGE_EXTENSIONS
from src.inference.prediction_files import write_outputs
from src.inference.trained_run import load_trained_run, refuse_model_settings
from src.models.uncertainty import Prediction, entropy, mc_samples_for, predict, predict_mc_dropout

log = logging.getLogger(__name__)
DEVICES = ("auto", "cpu", "cuda")


def check_predict_args(cfg: DictConfig) -> None:
    """predict's settings that cannot work, named by key, before anything is loaded."""
    if not 0 <= cfg.alpha <= 1:  # its type: the schema (src/cli/tool_configs.py)
        raise ConfigError(f"alpha must be a number from 0 (photo only) to 1 (mask only), got {cfg.alpha!r}")
    if cfg.device not in DEVICES:
        raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {cfg.device!r}")
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but PyTorch sees no CUDA GPU; use device=auto or device=cpu")
    if cfg.size is not None:
        check_size(cfg.size, key="size")


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


def network_input(photo: np.ndarray, size: tuple[int, int], mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """A (1, 3, H, W) batch of the photo resized to `size` and normalised as in training."""
    x = (resize_image(photo, size).astype(np.float32) / 255 - mean) / std
    return torch.from_numpy(x).permute(2, 0, 1)[None]


def to_input_size(result: Prediction, height: int, width: int) -> Prediction:
    """Probabilities resized (bilinear) to the input's resolution, and the uncertainty recomputed there."""
    if result.probs.shape[-2:] == (height, width):
        return result
    probs = F.interpolate(result.probs, size=(height, width), mode="bilinear", align_corners=False)
    mutual_information = result.mutual_information
    if mutual_information is not None:
        mutual_information = F.interpolate(mutual_information[:, None], size=(height, width), mode="bilinear")[:, 0]
    return Prediction(probs, entropy(probs), mutual_information)


def predict_images(cfg: DictConfig) -> dict:
    """Predict every input image and write predictions.json; returns what it holds.

    An image that cannot be read is listed under "failed" and the others are still predicted; what to make of
    a failure (`python -m src.predict` exits with an error) is the caller's.
    """
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
        x = network_input(photo, size, mean, std).to(device)
        result = predict_mc_dropout(module, x, mc_samples) if mc_samples else predict(module, x)
        result = to_input_size(result.cpu(), *photo.shape[:2])  # on the CPU: a large photo's C x H x W probabilities
        stem = out_dir / path.relative_to(root).with_suffix("")
        done.append(
            {"input": str(path), "size": list(photo.shape[:2])} | write_outputs(photo, result, table, stem, cfg.alpha)
        )
    summary = {
        "ckpt_path": str(run.ckpt_path),
        "device": str(device),  # where the network ran (device=auto picks cuda when present)
        "network_input_size": list(size),
        "mc_samples": mc_samples,
        "uncertainty": "predictive entropy (nats) of the MC-dropout mean" if mc_samples else "softmax entropy (nats)",
        "classes": list(table.names),
        "images": done,
        "failed": failed,
    }
    write_json_atomically(out_dir / "predictions.json", summary)
    return summary
