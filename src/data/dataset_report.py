"""A dataset's report before training on it: split sizes, class pixel shares, and how fast the train loader serves
one epoch from the cache and decoding the files each time (what `python -m src.check_data` prints and writes)."""

from __future__ import annotations

import time

import numpy as np
from rich.table import Table

from src.core.console import stdout_console
from src.core.errors import ConfigError
from src.data.datamodule import SPLITS, SegmentationDataModule


def epoch_seconds(datamodule: SegmentationDataModule, max_batches: int | None) -> tuple[float, int]:
    """Seconds for one pass over the train loader (worker start-up included), and images served."""
    start, images = time.perf_counter(), 0
    for i, (batch, _) in enumerate(datamodule.train_dataloader()):
        images += len(batch)
        if max_batches is not None and i + 1 >= max_batches:
            break
    return time.perf_counter() - start, images


def class_shares(datamodule: SegmentationDataModule, split: str) -> np.ndarray:
    """The share of each class (and of ignored pixels, last) among all pixels of a split, before augmentation."""
    counts = datamodule.label_counts(split)
    k = datamodule.table.num_classes
    return np.append(counts[:k], counts[k:].sum()) / max(counts.sum(), 1)


def dataset_report(datamodule: SegmentationDataModule, max_batches: int | None) -> dict:
    """Prepare (check and cache) every split, then measure; returns the report (data_report.json).

    The train epoch is timed twice, from the cache and then decoding the files (the datamodule is set up again
    with its cache off), each stopped after `max_batches` batches if given.
    """
    start = time.perf_counter()
    datamodule.prepare_data()
    prepare = time.perf_counter() - start
    datamodule.setup()
    report: dict = {"dataset": datamodule.name, "root": str(datamodule.root), "prepare_seconds": round(prepare, 2)}
    report["cache"] = dict(datamodule.cache_status)  # per split: reused, built or rebuilt (why)
    report["cache_folders"] = {split: str(folder) for split, folder in datamodule.cache_folders.items()}
    report["splits"] = {s: len(d) for s, d in datamodule.datasets.items() if s in SPLITS}
    report["class_shares"] = {s: class_shares(datamodule, s).round(5).tolist() for s in datamodule.datasets}

    cached = epoch_seconds(datamodule, max_batches)
    if cached[1] == 0:
        raise ConfigError(
            f"data.batch_size={datamodule.hparams.batch_size} is larger than the {report['splits']['train']}"
            " train images: no full batch to time"
        )
    datamodule.hparams.cache = False
    datamodule.datasets.clear()
    datamodule.setup("fit")
    decoded = epoch_seconds(datamodule, max_batches)
    report["train_epoch"] = {
        "images": cached[1],
        "cached_seconds": round(cached[0], 3),
        "decoding_seconds": round(decoded[0], 3),
        "cached_images_per_s": round(cached[1] / cached[0], 1),
        "decoding_images_per_s": round(decoded[1] / decoded[0], 1),
        "speedup": round(decoded[0] / cached[0], 1),
    }
    return report


def print_dataset_report(report: dict, class_names: list[str]) -> None:
    """The report as a person reads it: sizes, cache status, a table of class shares per split, loader speeds."""
    console = stdout_console()
    console.print(f"{report['dataset']} at {report['root']}: {report['splits']}")
    console.print(f"prepared in {report['prepare_seconds']} s; cache per split: {report['cache'] or 'off'}")
    table = Table(title="Pixel share per class (%)")
    table.add_column("class")
    for split in report["class_shares"]:
        table.add_column(split, justify="right")
    for i, name in enumerate([*class_names, "(ignored)"]):
        table.add_row(name, *(f"{100 * shares[i]:.2f}" for shares in report["class_shares"].values()))
    console.print(table)
    epoch = report["train_epoch"]
    console.print(
        f"train epoch ({epoch['images']} images): {epoch['cached_seconds']} s from the cache"
        f" ({epoch['cached_images_per_s']} img/s), {epoch['decoding_seconds']} s decoding the files"
        f" ({epoch['decoding_images_per_s']} img/s): {epoch['speedup']}x"
    )
