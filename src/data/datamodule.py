"""LightningDataModules: a Cityscapes-layout folder, and the built-in synthetic street scenes in that layout."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from lightning import LightningDataModule
from torch.utils.data import DataLoader

from src.data.cityscapes import CityscapesDataset
from src.data.labels import CLASS_NAMES
from src.data.synthetic import GENERATOR_VERSION, write_synthetic_cityscapes
from src.data.transforms import eval_transform, train_transform


def seed_worker_transform(worker_id: int) -> None:
    """Give each loader worker its own augmentation stream, derived from torch's per-worker seed.

    Every worker starts with a copy of the same albumentations RNG; left alone they would all draw the
    same flips and jitters, and repeat them every epoch.
    """
    transform = getattr(torch.utils.data.get_worker_info().dataset, "transform", None)
    if transform is not None:
        transform.set_random_seed(torch.initial_seed() % 2**32)


class CityscapesDataModule(LightningDataModule):
    """Train/val/test loaders over `root` in the Cityscapes layout, resized to `size` (H, W).

    `batch_size` is per process: under DDP the global batch is batch_size x devices x nodes.
    """

    def __init__(
        self,
        root: str | None,
        size: Sequence[int] = (128, 256),
        num_classes: int = 34,
        batch_size: int = 8,
        num_workers: int = 2,
        pin_memory: bool = True,
        mean: Sequence[float] = (0.485, 0.456, 0.406),
        std: Sequence[float] = (0.229, 0.224, 0.225),
        augment: dict | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.root = root
        self.class_names = list(CLASS_NAMES)
        self.datasets: dict[str, CityscapesDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.root is None:
            raise ValueError("data.root is not set: give the folder that holds leftImg8bit/ and gtFine/")
        hp = self.hparams
        splits = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("test",)}
        for split in splits.get(stage, ("train", "val", "test")):
            if split in self.datasets:
                continue
            if split == "train":
                # Drawn from torch's RNG, so seed_everything(seed) fixes the augmentations too.
                seed = int(torch.randint(0, 2**31 - 1, ()))
                transform = train_transform(hp.size, hp.mean, hp.std, seed=seed, **(hp.augment or {}))
            else:
                transform = eval_transform(hp.size, hp.mean, hp.std)
            self.datasets[split] = CityscapesDataset(self.root, split, transform)

    def _loader(self, split: str, train: bool = False) -> DataLoader:
        hp = self.hparams
        return DataLoader(
            self.datasets[split],
            batch_size=hp.batch_size,
            shuffle=train,
            drop_last=train,  # a last batch of 1 would break BatchNorm
            num_workers=hp.num_workers,
            pin_memory=hp.pin_memory and torch.cuda.is_available(),
            persistent_workers=hp.num_workers > 0,
            worker_init_fn=seed_worker_transform if hp.num_workers > 0 else None,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")


class SyntheticStreetsDataModule(CityscapesDataModule):
    """The built-in street scenes: generated once into `cache_dir` (keyed by the generator settings).

    Setting `root` reads a real Cityscapes copy there instead, with the same loaders and transforms.
    """

    def __init__(
        self,
        root: str | None = None,
        cache_dir: str = "data/synthetic",
        seed: int = 0,
        sizes: dict[str, int] | None = None,
        **kwargs,
    ) -> None:
        sizes = dict(sizes or {"train": 600, "val": 100, "test": 100})
        height, width = kwargs.get("size", (128, 256))
        self.generate = root is None
        if self.generate:
            key = f"v{GENERATOR_VERSION}_seed{seed}_" + "-".join(f"{s}{n}" for s, n in sizes.items())
            root = str(Path(cache_dir) / f"{key}_{height}x{width}")
        super().__init__(root=root, **kwargs)
        self.seed, self.sizes, self.height, self.width = seed, sizes, height, width

    def prepare_data(self) -> None:
        if self.generate:
            write_synthetic_cityscapes(self.root, self.sizes, self.seed, self.height, self.width)
