"""Compare the networks' cost: `python -m src.model_table [readme=README.md]` (see conf/model_table.yaml).

For UNet and for UNet++ pruned at each level: parameters, forward GFLOPs per image (counted by
torch.utils.flop_counter) and inference images/s on this machine, timed in interleaved rounds so the
ratios between rows are measured side by side. Writes model_table.md and model_table.json to the run folder
and, with `readme=...`, rewrites the table between the README's model-table markers.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from src.cli.composition_errors import one_line_config_errors
from src.models import NestedUNet, UNet

BEGIN, END = "<!-- model-table:begin -->", "<!-- model-table:end -->"


def build_rows(cfg: DictConfig) -> dict[str, tuple[nn.Module, nn.Module]]:
    """Each row's network as run (eval mode) and the standalone network whose parameters it uses."""
    arch = {
        "num_classes": cfg.num_classes,
        "base_channels": cfg.base_channels,
        "depth": cfg.depth,
        "head_channels": cfg.head_channels,
    }
    unet = UNet(**arch)
    rows: dict[str, tuple[nn.Module, nn.Module]] = {"UNet": (unet, unet)}
    for level in range(1, cfg.depth + 1):
        net = NestedUNet(**arch, deep_supervision=True, prune_level=level)
        rows[f"UNet++ L{level}"] = (net, net.pruned(level))
    accurate = NestedUNet(**arch, deep_supervision=True, ds_mode="accurate")
    rows[f"UNet++ accurate ({cfg.depth} heads)"] = (accurate, accurate)
    return rows


def forward_gflops(net: nn.Module, size: tuple[int, int]) -> float:
    """Forward FLOPs for one image, in GFLOP (a multiply-add counts 2)."""
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 3, *size))
    return counter.get_total_flops() / 1e9


def time_batches(nets: dict[str, nn.Module], batch: torch.Tensor, rounds: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per batch for each net, one batch per net per round, so slow drifts of the machine hit all alike."""
    seconds: dict[str, list[float]] = {name: [] for name in nets}
    with torch.inference_mode():
        for r in range(warmup + rounds):
            for name, net in nets.items():
                start = time.perf_counter()
                net(batch)
                if r >= warmup:
                    seconds[name].append(time.perf_counter() - start)
    return seconds


def markdown_table(results: list[dict], header: str) -> str:
    lines = [
        header,
        "",
        "| model | parameters (M) | GFLOPs / image | CPU inference img/s | vs UNet |",
        "|---|---:|---:|---:|---:|",
    ]
    base = results[0]["images_per_s"]
    for row in results:
        lines.append(
            f"| {row['model']} | {row['parameters'] / 1e6:.2f} | {row['gflops']:.1f} |"
            f" {row['images_per_s']:.2f} | {row['images_per_s'] / base:.2f}x |"
        )
    return "\n".join(lines)


def replace_between_markers(path: Path, text: str) -> None:
    """Swap the block between the model-table markers in `path` for `text`, atomically."""
    old = path.read_text()
    if BEGIN not in old or END not in old:
        raise ValueError(f"readme={path}: expected the markers {BEGIN} and {END} around the table")
    before, rest = old.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(f"{before}{BEGIN}\n{text}\n{END}{after}")
    os.replace(tmp, path)


def model_table(cfg: DictConfig) -> list[dict]:
    """Measure every row; returns one dict per row (model, parameters, gflops, images_per_s)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(0)
    size = tuple(cfg.size)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    rows = {name: (net.eval().to(memory_format=memory_format), own) for name, (net, own) in build_rows(cfg).items()}
    batch = torch.randn(cfg.batch_size, 3, *size).contiguous(memory_format=memory_format)
    seconds = time_batches({name: net for name, (net, _) in rows.items()}, batch, cfg.rounds, cfg.warmup)
    return [
        {
            "model": name,
            "parameters": sum(p.numel() for p in own.parameters()),
            "gflops": forward_gflops(net, size),
            "images_per_s": cfg.batch_size / statistics.median(seconds[name]),
            "seconds_per_batch": seconds[name],
        }
        for name, (net, own) in rows.items()
    ]


@one_line_config_errors
@hydra.main(version_base="1.3", config_path="../conf", config_name="model_table.yaml")
def main(cfg: DictConfig) -> None:
    results = model_table(cfg)
    header = (
        f"Width {cfg.base_channels}, depth {cfg.depth}, {cfg.num_classes} classes, {cfg.size[0]}x{cfg.size[1]} input;"
        f" fp32 eval, batch {cfg.batch_size}, {torch.get_num_threads()} CPU threads, median of {cfg.rounds} rounds"
        f" (torch {torch.__version__}). UNet++ L{{n}} is pruned to the head on X^{{0,n}}: its parameters are"
        f" those that head needs; 'accurate' averages all heads. Made by `python -m src.model_table`."
    )
    table = markdown_table(results, header)
    print(table)
    out = Path(cfg.paths.output_dir)
    (out / "model_table.md").write_text(table + "\n")
    (out / "model_table.json").write_text(json.dumps(results, indent=2) + "\n")
    if cfg.readme:
        replace_between_markers(Path(cfg.readme), table)
        print(f"updated the table in {cfg.readme}")


if __name__ == "__main__":
    main()
