"""Shipping a trained network as a file: `python -m src.export` as a function.

Exports the network alone, not the LightningModule. A UNet++ with `prune_level=L` ships as its standalone
pruned copy (`NestedUNet.pruned`), which holds only what X^{0,L} needs. The written file is then loaded in its
own runtime and run on a seeded random batch at the training size; its logits must match the checkpoint's
PyTorch model (as eval and predict run it) within `atol`, or the export fails and no file is left behind.
"""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from src.core.atomic_files import temporary_sibling
from src.core.errors import ConfigError
from src.inference.export_formats import (
    INPUT,
    OUTPUT,
    RUNTIMES,
    SUFFIXES,
    check_parity,
    export_network,
    load_exported,
    median_seconds,
)
from src.inference.trained_run import TrainedRun, load_trained_run, refuse_model_settings

log = logging.getLogger(__name__)
FILE_STEMS = {"UNet": "unet", "NestedUNet": "unetpp"}  # default file name per network class


def check_export_args(cfg: DictConfig) -> None:
    """export's settings that cannot work, named by key, before anything is loaded."""
    if cfg.format not in SUFFIXES:
        raise ConfigError(f"format={cfg.format} is not an export format; expected one of {', '.join(SUFFIXES)}")
    # Types come from the schema (src/cli/tool_configs.py); what is left are the ranges.
    if cfg.batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer (the parity-check batch), got {cfg.batch_size!r}")
    if not cfg.atol >= 0:  # NaN fails this too
        raise ConfigError(f"atol must be a number >= 0 (the largest logit difference accepted), got {cfg.atol!r}")


def network_to_ship(run: TrainedRun, prune_level: int | None) -> nn.Module:
    """A copy of the run's network as it predicts: eval mode, contiguous weights, pruned when asked."""
    net = run.net.pruned(prune_level) if prune_level is not None else copy.deepcopy(run.net)
    return net.to(memory_format=torch.contiguous_format).eval()


def output_path(cfg: DictConfig, run: TrainedRun) -> Path:
    """`output`, or <export run folder>/<unet|unetpp>[_L<prune_level>].<onnx|pt>."""
    if cfg.output:
        return Path(cfg.output).expanduser()
    name = FILE_STEMS.get(type(run.net).__name__, type(run.net).__name__.lower())
    if cfg.prune_level is not None:
        name += f"_L{cfg.prune_level}"
    return Path(cfg.paths.output_dir) / f"{name}{SUFFIXES[cfg.format]}"


def export(cfg: DictConfig) -> dict:
    """Export the network of `cfg.ckpt_path`, reload it and check it against PyTorch; returns the report."""
    check_export_args(cfg)
    refuse_model_settings(cfg)
    run = load_trained_run(cfg.ckpt_path, paths=cfg.paths, prune_level=cfg.prune_level, ds_mode=cfg.ds_mode)
    net = network_to_ship(run, cfg.prune_level)
    height, width = run.config.data.size
    shape = (cfg.batch_size, run.config.model.net.in_channels, height, width)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    path = output_path(cfg, run)
    path.parent.mkdir(parents=True, exist_ok=True)
    parameters = sum(p.numel() for p in net.parameters())
    log.info("exporting %s (%d parameters) of %s to %s", type(net).__name__, parameters, run.ckpt_path, path)

    start = time.perf_counter()
    tmp = temporary_sibling(path)  # `path` (an earlier good export, maybe) is replaced only once this one passes
    try:
        export_network(cfg.format, net, x[:1], tmp, cfg.opset)  # at batch 1; checked at batch_size: it is dynamic
        export_seconds = time.perf_counter() - start
        exported = load_exported(cfg.format, tmp)
        diff = check_parity(run.module, exported, x, cfg.atol)  # also the warm-up of both for the timing below
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
    deep_supervision = getattr(run.net, "deep_supervision", False)
    return {
        "format": cfg.format,
        "file": str(path.resolve()),
        "bytes": path.stat().st_size,
        "ckpt_path": str(run.ckpt_path),
        "model": type(net).__name__,
        "parameters": parameters,
        "prune_level": cfg.prune_level,
        "ds_mode": run.net.ds_mode if deep_supervision and cfg.prune_level is None else None,
        "opset": cfg.opset if cfg.format == "onnx" else None,
        "input": {"name": INPUT, "shape": ["batch", shape[1], "height", "width"]},
        "output": {"name": OUTPUT, "shape": ["batch", run.config.data.num_classes, "height", "width"]},
        "normalisation": {k: OmegaConf.to_container(run.config.data[k]) for k in ("mean", "std")},
        "input_shape": list(shape),  # the parity-check batch
        "max_abs_diff": diff,
        "atol": cfg.atol,
        "runtime": RUNTIMES[cfg.format],
        "threads": torch.get_num_threads(),  # PyTorch's; the timings below are medians of 3, on a machine maybe busy
        "pytorch_seconds": median_seconds(run.module, x),
        "exported_seconds": median_seconds(exported, x),
        "export_seconds": round(export_seconds, 2),
    }


def summary_line(report: dict) -> str:
    """One line of what `export` did: the file, the parity check and the timings."""
    shape = "x".join(map(str, report["input_shape"]))
    return (
        f"{report['model']} -> {report['file']} ({report['format']}, {report['bytes'] / 1e3:.1f} kB):"
        f" max abs diff {report['max_abs_diff']:.3g} <= atol {report['atol']:g} on a {shape} batch;"
        f" {report['runtime']} {1e3 * report['exported_seconds']:.1f} ms vs PyTorch"
        f" {1e3 * report['pytorch_seconds']:.1f} ms"
    )
