"""A split's cached arrays held in the training device's memory and served as ready batches (`data.device_resident`).

On a GPU the net at 128x256 eats thousands of images a second and a DataLoader is the slow side of the step: this
keeps the whole split there as uint8 (Cityscapes train at 128x256: 2975 x 128 x 256 x 4 bytes = 0.39 GB) and
gathers, flips, jitters and normalises each batch on the device, with no workers and no host-to-device copy.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from src.data.device_augment import DeviceAugment, normalise


class DeviceBatches:
    """Batches of (float images NCHW in channels_last memory, uint8 labels) from tensors on `device`.

    An iterable with a length, as Lightning accepts in place of a DataLoader. The order and the augmentation
    of a pass follow from (`seed`, epoch) alone, as with DistributedSampler: Lightning sets the epoch through
    `sampler.set_epoch` at each epoch start (used alone, each full pass moves to the next epoch), so a run
    resumed at an epoch boundary sees exactly the batches the uninterrupted run would have. Under DDP every
    process draws the same order (`seed` is the same on every rank) and takes every `world_size`-th image of it:
    training trims the order to a multiple of `world_size` so every process runs the same number of steps;
    evaluation splits are shared out without repeating any image.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        batch_size: int,
        device: torch.device,
        mean: Sequence[float],
        std: Sequence[float],
        augment: dict | None = None,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.images = torch.from_numpy(np.array(images)).to(device)  # (N, H, W, 3) uint8
        self.labels = torch.from_numpy(np.array(labels)).to(device)  # (N, H, W) uint8
        self.batch_size, self.mean, self.std = batch_size, tuple(mean), tuple(std)
        self.shuffle, self.drop_last, self.rank, self.world_size = shuffle, drop_last, rank, world_size
        self.seed = seed
        self.sampler, self.batch_sampler = self, None  # where Lightning looks for set_epoch (as on a DataLoader)
        self.epoch = 0
        self.randomness = torch.Generator(device=device)
        self.augment = DeviceAugment(**augment, generator=self.randomness) if augment else None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _shard_size(self) -> int:
        n = len(self.images)
        if self.drop_last:
            return n // self.world_size
        return len(range(self.rank, n, self.world_size))

    def __len__(self) -> int:
        size = self._shard_size()
        return size // self.batch_size if self.drop_last else -(-size // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.images)
        order_rng = torch.Generator().manual_seed(self.seed + self.epoch)  # the same on every process
        self.randomness.manual_seed(self.seed + 1_000_003 * (self.rank + 1) + self.epoch)  # differs per process
        order = torch.randperm(n, generator=order_rng) if self.shuffle else torch.arange(n)
        if self.drop_last:
            order = order[: n - n % self.world_size]
        order = order[self.rank :: self.world_size]
        if self.images.is_cuda:  # from pinned memory, asynchronously: a pageable copy would wait for the GPU
            order = order.pin_memory().to(self.images.device, non_blocking=True)
        for batch in range(len(self)):
            index = order[batch * self.batch_size : (batch + 1) * self.batch_size]
            images, labels = self.images[index].float().div_(255), self.labels[index]
            if self.augment is not None:
                images, labels = self.augment(images, labels)
            # (B, H, W, 3) -> (B, 3, H, W): a view whose memory is already channels_last, as the module runs the net
            yield normalise(images, self.mean, self.std).permute(0, 3, 1, 2), labels
        self.epoch += 1  # the next pass, unless Lightning sets the epoch first
