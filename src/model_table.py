"""Compare the networks' cost: `python -m src.model_table [readme=README.md]` (see conf/model_table.yaml).

For UNet and for UNet++ pruned at each level: parameters, forward GFLOPs per image and inference images/s on
this machine's CPU, timed in interleaved rounds (src/models/cost_comparison.py). Writes model_table.md and
model_table.json to the run folder and, with `readme=...`, rewrites the table between the README's model-table
markers.
"""

from __future__ import annotations

from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig

from src.cli.composition_errors import one_line_config_errors
from src.core.atomic_files import write_json_atomically, write_text_atomically
from src.models.cost_comparison import compared_networks, measure_networks
from src.models.cost_table import markdown_table, replace_between_markers, table_header


def model_table(cfg: DictConfig) -> list[dict]:
    """Measure every row; returns one dict per row (model, parameters, gflops, images_per_s, seconds_per_batch)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(0)
    rows = compared_networks(cfg.num_classes, cfg.base_channels, cfg.depth, cfg.head_channels)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    batch = torch.randn(cfg.batch_size, 3, *cfg.size).contiguous(memory_format=memory_format)
    return measure_networks(rows, batch, cfg.rounds, cfg.warmup, memory_format)


@one_line_config_errors
@hydra.main(version_base="1.3", config_path="../conf", config_name="model_table.yaml")
def main(cfg: DictConfig) -> None:
    results = model_table(cfg)
    table = markdown_table(results, table_header(cfg))  # after model_table, which may set the thread count
    print(table)
    out = Path(cfg.paths.output_dir)
    write_text_atomically(out / "model_table.md", table + "\n")
    write_json_atomically(out / "model_table.json", results)
    if cfg.readme:
        replace_between_markers(Path(cfg.readme), table)
        print(f"updated the table in {cfg.readme}")


if __name__ == "__main__":
    main()
