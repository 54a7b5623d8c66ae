"""Two ways to serve one split's pairs at the training size: from the decoded cache, or from the files each time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from src.data.cache import load_cache
from src.data.decode import load_pair
from src.data.labels import ClassTable


def to_sample(
    image: np.ndarray, label: np.ndarray, transform: Callable[..., dict]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Transform a pair; labels stay uint8 through the loader (8x less to copy), the module widens them."""
    out = transform(image=image, mask=label)
    return out["image"], torch.as_tensor(out["mask"], dtype=torch.uint8)


class CachedDataset(Dataset):
    """A split read from its cache folder; the arrays are memory-mapped lazily, once per loader worker."""

    def __init__(self, folder: Path, transform: Callable[..., dict]) -> None:
        self.folder, self.transform = folder, transform
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None
        self.length = len(load_cache(folder)[1])

    def __len__(self) -> int:
        return self.length

    def _arrays_or_load(self) -> tuple[np.ndarray, np.ndarray]:
        if self._arrays is None:  # opened on first read, not in __init__, so workers never pickle a memmap
            self._arrays = load_cache(self.folder)
        return self._arrays

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = self._arrays_or_load()
        return to_sample(np.array(images[index]), np.array(labels[index]), self.transform)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_arrays": None}


class FileDataset(Dataset):
    """A split decoded from its files on every read (`data.cache=false`): no disk used, ~30 ms per 2 MP image."""

    def __init__(
        self, pairs: Sequence[tuple[Path, Path]], table: ClassTable, size: Sequence[int], transform: Callable[..., dict]
    ) -> None:
        self.pairs, self.table, self.size, self.transform = list(pairs), table, tuple(size), transform

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, label, _ = load_pair(*self.pairs[index], self.table, self.size)
        return to_sample(image.copy(), label.copy(), self.transform)
