"""How fast this machine trains and serves a configured model: `python -m src.benchmark [overrides]`, `make bench`.

Composes the training config (conf/benchmark.yaml), then measures, in one process (src/training/benchmark/):
- training images/s through the real Lightning path (SegmentationModule, Trainer, the configured precision) and
  through a raw PyTorch loop calling the same module's forward and loss (and, in a third series, its
  training_step with the metrics), with the same data, optimizer and batch, in alternating rounds after warm-up,
  and their ratios: what the framework costs;
- the input pipeline alone (the configured train DataLoader: dataset, augmentation, collate) in images/s, and
  its ratio to what training consumes;
- training FLOPs per image (forward + backward, torch.utils.flop_counter), the achieved GFLOP/s and their share
  of this machine's float32 matmul peak, measured here;
- inference images/s and batch latency of UNet and each UNet++ prune level at the configured width;
- peak memory: host RSS (this process and its loader workers), and device memory on a GPU.
Prints one table and writes benchmark.json to its run folder. Ratios measured side by side are the result;
absolute times on a shared machine are noisy.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from src.cli.composition_errors import one_line_config_errors
from src.cli.exit_on_user_error import exit_on_user_error
from src.cli.run_report import write_run_report
from src.training.benchmark.measurements import benchmark
from src.training.benchmark.table import print_benchmark_table


@one_line_config_errors
@hydra.main(version_base="1.3", config_path="../conf", config_name="benchmark.yaml")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    result = benchmark(cfg)
    print_benchmark_table(result)
    path = write_run_report(cfg.paths.output_dir, "benchmark.json", result)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
