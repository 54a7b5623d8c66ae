"""A network written as ONNX or TorchScript, loaded back in its own runtime, and checked against PyTorch.

The file takes a normalised float image batch (N, 3, H, W) named `image` and returns logits (N, C, H, W)
named `logits`, with N, H and W dynamic: the networks pad their input as arithmetic on its size
(src/models/blocks.py `pad_to_multiple`), which both exporters keep for any size.
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from src.core.errors import ConfigError

SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}  # the formats, and their files' suffix
RUNTIMES = {"onnx": "onnxruntime", "torchscript": "TorchScript"}  # what runs the file in the parity check
INPUT, OUTPUT = "image", "logits"  # the graph's input and output names


class ParityError(RuntimeError):
    """The exported model's logits are not PyTorch's: the export is wrong, not the user's input."""


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
        warnings.filterwarnings("ignore", "`torch.jit.trace", DeprecationWarning)  # said once, in README "Export"
        traced = torch.jit.trace(net, example)
    torch.jit.save(traced, str(path))


def export_network(fmt: str, net: nn.Module, example: torch.Tensor, path: Path, opset: int) -> None:
    """Write `net` to `path` in format `fmt` (a key of SUFFIXES), exported at the size of `example`."""
    if fmt == "onnx":
        export_onnx(net, example, path, opset)
    else:
        export_torchscript(net, example, path)


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
