"""Ship a trained network: `python -m src.export ckpt_path=... format=onnx|torchscript` (conf/export.yaml).

Exports the network alone, not the LightningModule: input a normalised float image batch (N, 3, H, W), output
logits (N, C, H, W), with N, H and W all dynamic. A UNet++ with `prune_level=L` ships as its standalone pruned
copy (`NestedUNet.pruned`), which holds only what X^{0,L} needs. The written file is then loaded in its own
runtime (onnxruntime, or torch.jit.load) and run on a seeded random batch at the training size; its logits must
match the checkpoint's PyTorch model (as eval and predict run it) within `atol`, or the export fails.
Writes the file and export.json to its run folder.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import statistics
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import hydra
import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torch import nn

from src.cli.composition_errors import one_line_config_errors
from src.cli.exit_on_user_error import exit_on_user_error
from src.core.atomic_files import temporary_sibling, write_json_atomically
from src.core.errors import ConfigError
from src.inference.trained_run import TrainedRun, load_trained_run, refuse_model_settings

log = logging.getLogger(__name__)

SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}  # the formats, and their files' suffix
RUNTIMES = {"onnx": "onnxruntime", "torchscript": "TorchScript"}  # what runs the file in the parity check
FILE_STEMS = {"UNet": "unet", "NestedUNet": "unetpp"}  # default file name per network class
INPUT, OUTPUT = "image", "logits"  # the graph's input and output names


class ParityError(RuntimeError):
    """The exported model's logits are not PyTorch's: the export is wrong, not the user's input."""


class PaddedNet(nn.Module):
    """The network with its input padding done as arithmetic on the input's size, so any H and W export.

    The networks pad H and W to a multiple of 2**depth behind a Python `if`, which tracing and torch.export
    record for the example's size only. This wrapper pads by (-h) % multiple (zero rows when already a multiple),
    which the graph keeps as size arithmetic, and crops back; the network's own `if` then always sees a multiple.
    """

    def __init__(self, net: nn.Module, multiple: int) -> None:
        super().__init__()
        self.net, self.multiple = net, multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = F.pad(x, (0, (-w) % self.multiple, 0, (-h) % self.multiple), mode="replicate")
        return self.net(x)[..., :h, :w]


def check_export_args(cfg: DictConfig) -> None:
    """Reject settings that cannot work before loading anything, naming the key."""
    if cfg.format not in SUFFIXES:
        raise ConfigError(f"format={cfg.format} is not an export format; expected one of {', '.join(SUFFIXES)}")
    if isinstance(cfg.batch_size, bool) or not isinstance(cfg.batch_size, int) or cfg.batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer (the parity-check batch), got {cfg.batch_size!r}")
    if isinstance(cfg.atol, bool) or not isinstance(cfg.atol, (int, float)) or not cfg.atol >= 0:
        raise ConfigError(f"atol must be a number >= 0 (the largest logit difference accepted), got {cfg.atol!r}")
    if cfg.format == "onnx" and (isinstance(cfg.opset, bool) or not isinstance(cfg.opset, int)):
        raise ConfigError(f"opset must be an integer ONNX operator set version, e.g. 18; got {cfg.opset!r}")


def network_to_ship(run: TrainedRun, prune_level: int | None) -> PaddedNet:
    """A copy of the run's network as it predicts: eval mode, contiguous weights, pruned when asked, any size."""
    net = run.net.pruned(prune_level) if prune_level is not None else copy.deepcopy(run.net)
    multiple = getattr(net, "pad_multiple", 2**net.depth)  # a pruned UNet++ pads as the full network did
    return PaddedNet(net.to(memory_format=torch.contiguous_format), multiple).eval()


@contextlib.contextmanager
def quiet_exporter() -> Iterator[None]:
    """Hide the ONNX exporter's chatter: a line per graph pass, and warnings about code that is not ours."""
    # torch.onnx warns that torchvision's detection ops are missing (we use none); onnxscript and onnx_ir log
    # every optimisation pass at INFO. Their warnings about our network (a failed opset conversion) stay.
    levels = {"torch.onnx": logging.ERROR, "onnxscript": logging.WARNING, "onnx_ir": logging.WARNING}
    saved = {name: logging.getLogger(name).level for name in levels}
    try:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.export's own internals, nothing to act on
            yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def export_onnx(net: nn.Module, example: torch.Tensor, path: Path, opset: int) -> None:
    """Write `net` as one self-contained .onnx file (dynamo exporter) with dynamic batch, height and width."""
    dims = {axis: torch.export.Dim(name, min=1) for axis, name in ((0, "batch"), (2, "height"), (3, "width"))}
    with quiet_exporter():
        torch.onnx.export(
            net,
            (example,),
            path,
            dynamo=True,
            opset_version=opset,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_shapes=(dims,),
            external_data=False,  # weights inside the file: one file to ship (the 2 GB limit is far off)
            verbose=False,
        )
    written = next(o.version for o in onnx.load(path, load_external_data=False).opset_import if o.domain == "")
    if written != opset:  # the exporter targets a recent opset and, when it cannot convert down, keeps it
        raise ConfigError(f"opset={opset}: the exporter cannot convert this network to it; use opset>={written}")


def export_torchscript(net: nn.Module, example: torch.Tensor, path: Path) -> None:
    """Write `net` traced to TorchScript: loads with torch.jit.load, no model code needed."""
    with warnings.catch_warnings():
        # The network's `if pad_h or pad_w` is traced as a constant, rightly: PaddedNet always hands it a multiple.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", "`torch.jit.trace", DeprecationWarning)  # said once, in README "Export"
        traced = torch.jit.trace(net, example)
    torch.jit.save(traced, str(path))


def load_exported(fmt: str, path: Path) -> Callable[[torch.Tensor], np.ndarray]:
    """The written file in its own runtime, as a function from an image batch to logits."""
    if fmt == "onnx":
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda x: session.run([OUTPUT], {INPUT: x.numpy()})[0]
    module = torch.jit.load(str(path), map_location="cpu")
    return lambda x: module(x).numpy()


def check_parity(
    reference: Callable[[torch.Tensor], torch.Tensor],
    exported: Callable[[torch.Tensor], np.ndarray],
    x: torch.Tensor,
    atol: float,
) -> float:
    """The largest |exported - reference| logit on batch `x`; ParityError when it exceeds `atol` (or is NaN)."""
    with torch.inference_mode():
        expected = reference(x).float().numpy()
        got = exported(x)
    if got.shape != expected.shape:
        raise ParityError(f"the exported model returns logits of shape {got.shape}; PyTorch's are {expected.shape}")
    diff = float(np.abs(got - expected).max())
    print(f"max abs diff vs PyTorch: {diff:.3g} (atol {atol:g})")
    if not diff <= atol:
        raise ParityError(
            f"the exported model's logits differ from PyTorch's by up to {diff:.3g}, more than atol={atol:g}:"
            " the export is wrong (an op the exporter mistranslated?); raise atol only for a known rounding gap"
        )
    return diff


def median_seconds(fn: Callable[[torch.Tensor], object], x: torch.Tensor, repeats: int = 3) -> float:
    """Median wall time of fn(x) over `repeats` calls (run after a warm-up call)."""
    times = []
    with torch.inference_mode():
        for _ in range(repeats):
            start = time.perf_counter()
            fn(x)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


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
    log.info("exporting %s (%d parameters) of %s to %s", type(net.net).__name__, parameters, run.ckpt_path, path)

    start = time.perf_counter()
    example = x[:1]  # exported at batch 1, checked at batch_size: the check covers the dynamic batch
    tmp = temporary_sibling(path)  # `path` (an earlier good export, maybe) is replaced only once this one passes
    try:
        if cfg.format == "onnx":
            export_onnx(net, example, tmp, cfg.opset)
        else:
            export_torchscript(net, example, tmp)
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
        "model": type(net.net).__name__,
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
    shape = "x".join(map(str, report["input_shape"]))
    return (
        f"{report['model']} -> {report['file']} ({report['format']}, {report['bytes'] / 1e3:.1f} kB):"
        f" max abs diff {report['max_abs_diff']:.3g} <= atol {report['atol']:g} on a {shape} batch;"
        f" {report['runtime']} {1e3 * report['exported_seconds']:.1f} ms vs PyTorch"
        f" {1e3 * report['pytorch_seconds']:.1f} ms"
    )


@one_line_config_errors
@hydra.main(version_base="1.3", config_path="../conf", config_name="export.yaml")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    report = export(cfg)
    path = Path(cfg.paths.output_dir) / "export.json"
    write_json_atomically(path, report)
    print(summary_line(report))
    print(f"report: {path}")


if __name__ == "__main__":
    main()
