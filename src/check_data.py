"""Check a dataset before training on it: `python -m src.check_data data=camvid data.root=...` (conf/check_data.yaml).

Reads and checks every file (building the cache when `data.cache=true`), then reports each split's size and
class pixel shares, and how fast the configured DataLoader serves one epoch of the train split from the cache
and decoding the files each time (src/data/dataset_report.py). Run it twice: the first run pays for building the
cache, the second only checks it. Writes data_report.json to its run folder.
"""

from __future__ import annotations

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from src.cli.composition_errors import one_line_config_errors
from src.cli.exit_on_user_error import exit_on_user_error
from src.cli.run_report import write_run_report
from src.data.dataset_report import dataset_report, print_dataset_report


def check_data(cfg: DictConfig) -> dict:
    """Prepare (check and cache) every split of cfg.data, then measure; returns the report."""
    torch.manual_seed(0)
    return dataset_report(instantiate(cfg.data), cfg.max_batches)


@one_line_config_errors
@hydra.main(version_base="1.3", config_path="../conf", config_name="check_data.yaml")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    report = check_data(cfg)
    print_dataset_report(report, instantiate(cfg.data).class_names)
    path = write_run_report(cfg.paths.output_dir, "data_report.json", report)
    print(f"caches: {report['cache_folders'] or 'off'}\nreport: {path}")


if __name__ == "__main__":
    main()
