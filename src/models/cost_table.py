"""The networks' cost comparison as a Markdown table, and that table kept up to date between a file's markers."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig

from src.core.atomic_files import write_text_atomically

BEGIN, END = "<!-- model-table:begin -->", "<!-- model-table:end -->"


def table_header(cfg: DictConfig) -> str:
    """What the rows were measured on (conf/model_table.yaml's keys, this machine's threads, torch's version)."""
    return (
        f"Width {cfg.base_channels}, depth {cfg.depth}, {cfg.num_classes} classes, {cfg.size[0]}x{cfg.size[1]} input;"
        f" fp32 eval, batch {cfg.batch_size}, {torch.get_num_threads()} CPU threads, median of {cfg.rounds} rounds"
        f" (torch {torch.__version__}). UNet++ L{{n}} is pruned to the head on X^{{0,n}}: its parameters are"
        f" those that head needs; 'accurate' averages all heads. Made by `python -m src.model_table`."
    )


def markdown_table(results: list[dict], header: str) -> str:
    """`header`, then one row per network with its speed relative to the first row's (UNet's)."""
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
    write_text_atomically(path, f"{before}{BEGIN}\n{text}\n{END}{after}")
