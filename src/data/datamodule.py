"""The pipeline every dataset's LightningDataModule shares: find a split's file pairs, decode/check/resize them
once into a cache, serve them with albumentations. Each dataset (cityscapes.py, camvid.py, folder.py,
synthetic.py) only says where its files are and what its labels mean.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from lightning import LightningDataModule
from lightning.pytorch.utilities import rank_zero_warn
from torch.utils.data import DataLoader, Dataset

from src.core.errors import ConfigError
from src.data.cache import Pair, cached_label_counts, ensure_cache, load_cache
from src.data.decode import load_pair
from src.data.device_batches import DeviceBatches
from src.data.labels import ClassTable
from src.data.loader_workers import cache_workers, check_workers, loader_workers
from src.data.segmentation_dataset import CachedDataset, FileDataset
from src.data.transforms import eval_transform, train_transform

SPLITS = ("train", "val", "test")
STAGE_SPLITS = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("test",)}


def check_size(size: Sequence[int], key: str = "data.size") -> tuple[int, int]:
    """A size as (height, width), or a ConfigError naming the key."""
    size = list(size) if isinstance(size, Sequence) and not isinstance(size, str) else [size]
    if len(size) != 2 or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in size):
        raise ConfigError(f"{key} must be [height, width], two positive integers; got {size}")
    return size[0], size[1]


def seed_worker_transform(worker_id: int) -> None:
    """Give each loader worker its own augmentation stream, derived from torch's per-worker seed and the rank.

    Every worker starts with a copy of the same albumentations RNG; left alone they would all draw the
    same flips and jitters, and repeat them every epoch. torch's worker seed is the same on every DDP rank,
    so the rank is mixed in too.
    """
    signal.signal(
        signal.SIGINT, signal.SIG_IGN
    )  # Ctrl-C is the main process's (src/training/callbacks/stop_on_sigint.py)
    dataset = torch.utils.data.get_worker_info().dataset
    transform = getattr(dataset, "transform", None)
    if transform is not None:
        transform.set_random_seed((torch.initial_seed() + 1_000_003 * getattr(dataset, "rank", 0)) % 2**32)


class SegmentationDataModule(LightningDataModule):
    """Train/val/test loaders over a labelled dataset on disk, resized to `size` (H, W).

    With `cache=true` each split is decoded, checked and resized once (in `prepare_data`, so once per node
    under DDP) into `cache_dir`, and read from there; any bad file stops it there, before training starts.
    `batch_size` is per process: under DDP the global batch is batch_size x devices x nodes.
    Subclasses say where a split's files are (`find_pairs`, `has_split`) and what the labels mean (`table`).
    """

    name = "dataset"

    def __init__(
        self,
        root: str | None,
        size: Sequence[int] = (128, 256),
        num_classes: int = 34,
        batch_size: int = 8,
        num_workers: int | str = "auto",
        pin_memory: bool = True,
        mean: Sequence[float] = (0.485, 0.456, 0.406),
        std: Sequence[float] = (0.229, 0.224, 0.225),
        augment: dict | None = None,
        cache: bool = True,
        cache_dir: str = "data/cache",
        device_resident: bool = False,
    ) -> None:
        super().__init__()
        check_size(size)
        check_workers(num_workers)
        self.save_hyperparameters(logger=False)
        self.root = root
        self.datasets: dict[str, Dataset] = {}
        self.cache_status: dict[str, str] = {}  # split -> "reused", "built" or "rebuilt (...)"
        self.cache_folders: dict[str, Path] = {}  # split -> its cache, checked once in this process
        self.device: torch.device | None = None  # where device_resident batches live without a Trainer (CPU if None)
        self.resident: dict[str, DeviceBatches] = {}  # split -> its batches in device memory (device_resident)
        self.train_seed = 0  # the train split's augmentation and shuffling seed, drawn in setup

    # What a dataset defines.
    @property
    def table(self) -> ClassTable:
        """The classes (names, colours) and how raw label values map to them."""
        raise NotImplementedError

    def split_table(self, split: str) -> ClassTable:
        """How to read this split's label files (the same as `table` unless a split stores other values)."""
        return self.table

    def has_split(self, split: str) -> bool:
        raise NotImplementedError

    def find_pairs(self, split: str) -> list[Pair]:
        raise NotImplementedError

    @property
    def class_names(self) -> list[str]:
        return list(self.table.names)

    def check_config(self) -> None:
        """Settings that cannot work, named by key, before anything is read."""
        if self.root is None:
            raise ConfigError(f"data.root is not set: give the folder that holds the {self.name} data")
        if self.hparams.num_classes != self.table.num_classes:
            raise ConfigError(
                f"data.num_classes={self.hparams.num_classes} but the {self.name} labels as configured have"
                f" {self.table.num_classes} classes; set data.num_classes={self.table.num_classes}"
            )
        if self.hparams.device_resident:
            if not self.hparams.cache:
                raise ConfigError("data.device_resident=true serves the cached arrays: it needs data.cache=true")
            if (self.hparams.augment or {}).get("scale") is not None:
                raise ConfigError(
                    "data.augment.scale is not available with data.device_resident=true (flip and jitter are):"
                    " set data.augment.scale=null or data.device_resident=false"
                )

    def _stage_splits(self, stage: str | None) -> tuple[str, ...]:
        """The splits a stage reads; all three when the stage is unknown."""
        return tuple(s for s in STAGE_SPLITS.get(stage, SPLITS) if s != "test" or self.has_split(s))

    def prepare_data(self) -> None:
        self.check_config()
        if self.hparams.cache:
            for split in self._stage_splits(None):  # all of them now: a bad test file must not wait for the end
                self._cache_folder(split)
            self.check_classes_seen(self.label_counts("train"))
        if self.trainer is not None and not self.has_split("test"):
            rank_zero_warn(f"{self.name} at {self.root} has no test split: the run ends with validation metrics")

    def check_classes_seen(self, counts: np.ndarray) -> None:
        """Warn when classes never occur in train while pixels are ignored: usually a mask value mapped wrongly."""
        k = self.table.num_classes
        unseen = [name for name, n in zip(self.table.names, counts[:k], strict=True) if n == 0]
        ignored = counts[k:].sum() / max(counts.sum(), 1)
        if unseen and ignored > 0:
            rank_zero_warn(
                f"{self.name}: classes {unseen} have no pixels in the train split while {100 * ignored:.1f}% of"
                " pixels are ignored; if your masks use the ignore value for a class, set data.ignore_index"
                " (and data.value_map for data=folder)"
            )

    def setup(self, stage: str | None = None) -> None:
        self.check_config()
        hp = self.hparams
        rank = self.trainer.global_rank if self.trainer is not None else 0
        for split in self._stage_splits(stage):
            if split in self.datasets:
                continue
            if split == "train":
                # Drawn from torch's RNG, so seed_everything(seed) fixes the augmentations too; each rank differs.
                self.train_seed = int(torch.randint(0, 2**31 - 1, ()))
                if self.trainer is not None and self.trainer.world_size > 1:  # one shuffle for all, even unseeded
                    self.train_seed = self.trainer.strategy.broadcast(self.train_seed, src=0)
                seed = self.train_seed + 1_000_003 * rank
                transform = train_transform(hp.size, hp.mean, hp.std, seed=seed, **(hp.augment or {}))
            else:
                transform = eval_transform(hp.mean, hp.std)
            if hp.cache:
                dataset = CachedDataset(self._cache_folder(split), transform)
            else:
                dataset = FileDataset(self.find_pairs(split), self.split_table(split), hp.size, transform)
            dataset.rank = rank
            if split == "train" and len(dataset) < hp.batch_size:
                raise ConfigError(
                    f"data.batch_size={hp.batch_size} is larger than the {len(dataset)} train images of {self.root}:"
                    " no full batch to train on (the last, partial batch is dropped)"
                )
            self.datasets[split] = dataset

    def _cache_folder(self, split: str) -> Path:
        """The checked cache of a split, built first if needed; checked once per process."""
        if split in self.cache_folders:
            return self.cache_folders[split]
        hp = self.hparams
        table = self.split_table(split)
        root = Path(self.root).expanduser().resolve()
        identity = {
            "dataset": self.name,
            "root": str(root),
            "split": split,
            "size": list(hp.size),
            "lut": table.lut.tolist(),
            "valid": table.valid.tolist(),
        }
        name = f"{self.name}_{split}_{hp.size[0]}x{hp.size[1]}"
        pairs = self.find_pairs(split)
        workers = cache_workers(hp.num_workers)
        folder, status = ensure_cache(hp.cache_dir, name, identity, root, pairs, table, hp.size, workers)
        self.cache_folders[split], self.cache_status[split] = folder, status
        return folder

    def label_counts(self, split: str) -> np.ndarray:
        """Pixels per training index (256 entries; 255 = ignored) over a split as served, before augmentation."""
        if self.hparams.cache:
            return cached_label_counts(self._cache_folder(split))
        table, size = self.split_table(split), self.hparams.size
        pairs = self.find_pairs(split)
        return sum(np.bincount(load_pair(*pair, table, size)[1].ravel(), minlength=256) for pair in pairs)

    def _serving_device(self) -> torch.device:
        """The device batches go to: the Trainer's (this process's GPU under DDP), else `self.device`, else CPU."""
        if self.trainer is not None:
            return self.trainer.strategy.root_device
        device = self.device or torch.device("cpu")
        if device.type == "cuda" and device.index is None:  # "cuda" as the tensors name it, so the upload is reused
            device = torch.device("cuda", torch.cuda.current_device())
        return device

    def num_loader_workers(self) -> int:
        """data.num_workers, with `auto` resolved for the device and the cache (src/data/loader_workers.py)."""
        processes = self.trainer.num_devices if self.trainer is not None else 1
        return loader_workers(self.hparams.num_workers, self._serving_device().type, self.hparams.cache, processes)

    def _loader(self, split: str, train: bool = False) -> DataLoader | DeviceBatches:
        hp = self.hparams
        if hp.device_resident:
            return self._resident_batches(split, train)
        workers = self.num_loader_workers()
        return DataLoader(
            self.datasets[split],
            batch_size=hp.batch_size,
            shuffle=train,
            drop_last=train,  # a last batch of 1 would break BatchNorm
            num_workers=workers,
            pin_memory=hp.pin_memory and torch.cuda.is_available(),
            persistent_workers=workers > 0,
            worker_init_fn=seed_worker_transform if workers > 0 else None,
        )

    def _resident_batches(self, split: str, train: bool) -> DeviceBatches:
        """A split's batches served from device memory, uploaded once per device."""
        device = self._serving_device()
        if split not in self.resident or self.resident[split].images.device != device:
            hp = self.hparams
            images, labels = load_cache(self._cache_folder(split))
            augment = {k: v for k, v in (hp.augment or {}).items() if k != "scale"} if train else None
            trainer = self.trainer
            self.resident[split] = DeviceBatches(
                images,
                labels,
                hp.batch_size,
                device,
                hp.mean,
                hp.std,
                augment=augment,
                shuffle=train,
                drop_last=train,
                seed=self.train_seed,
                rank=trainer.global_rank if trainer is not None else 0,
                world_size=trainer.world_size if trainer is not None else 1,
            )
        return self.resident[split]

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")
