"""data.device_resident: the cached splits served from device memory, augmented there; data.num_workers=auto."""

import numpy as np
import pytest
import torch

from src.core.errors import ConfigError
from src.data.device_augment import DeviceAugment, hue_rotations
from src.data.device_batches import DeviceBatches
from src.data.loader_workers import loader_workers, usable_cpus
from src.data.synthetic import SyntheticStreetsDataModule
from src.train import train
from tests.helpers import compose_tiny

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def numbered(n: int, h: int = 4, w: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Image i and label i hold the value i everywhere, so a batch says which images it holds."""
    images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, h, w, 3)).copy()
    return images, images[..., 0].copy()


def order(batches: DeviceBatches) -> list[int]:
    """The image numbers one pass serves, in order."""
    return [i for _, labels in batches for i in labels[:, 0, 0].tolist()]


def test_eval_batches_equal_the_host_pipeline_in_order_and_channels_last(tmp_path):
    dm = SyntheticStreetsDataModule(
        generate_dir=str(tmp_path / "gen"), cache_dir=str(tmp_path / "c"), sizes={"train": 4, "val": 5, "test": 0},
        size=(32, 64), batch_size=2, num_workers=0,
    )  # fmt: skip
    dm.prepare_data()
    dm.setup("fit")
    host = list(dm.val_dataloader())
    dm.hparams.device_resident = True
    resident = dm.val_dataloader()
    assert isinstance(resident, DeviceBatches) and len(resident) == len(host) == 3  # 5 images: last batch of 1 kept
    for (x, y), (hx, hy) in zip(resident, host, strict=True):
        assert x.shape == hx.shape and x.dtype == torch.float32 and y.dtype == torch.uint8
        assert x.is_contiguous(memory_format=torch.channels_last)  # as the module runs the net: no copy
        torch.testing.assert_close(x, hx, atol=1e-5, rtol=0)
        assert torch.equal(y, hy)
    assert dm.val_dataloader() is resident  # uploaded once


def test_train_passes_are_fresh_permutations_seeded_and_shared_out_like_distributed_sampler():
    images, labels = numbered(10)

    def make(**kwargs) -> DeviceBatches:
        return DeviceBatches(
            images, labels, 2, torch.device("cpu"), MEAN, STD, shuffle=True, drop_last=True, seed=7, **kwargs
        )

    single = make()
    first, second = order(single), order(single)
    assert sorted(first) == sorted(second) == list(range(10)) and first != second  # every image once, new order
    assert order(make()) == first  # the same seed, the same order
    resumed = make()
    resumed.set_epoch(1)  # as Lightning does at the start of epoch 1 of a resumed run
    assert order(resumed) == second  # the order the uninterrupted run had in that epoch
    augment = {"hflip": 0.5, "jitter": 0.2, "jitter_p": 0.8}
    through, fresh = make(augment=augment), make(augment=augment)
    list(through)
    fresh.set_epoch(1)
    for (x, y), (fx, fy) in zip(through, fresh, strict=True):  # and the same flips and jitters
        assert torch.equal(x, fx) and torch.equal(y, fy)
    shards = [order(make(rank=r, world_size=3)) for r in range(3)]
    assert [len(s) for s in shards] == [2, 2, 2]  # 10 // 3 = 3 each, trimmed to whole batches of 2: equal steps
    assert all(len(make(rank=r, world_size=3)) == 1 for r in range(3))
    flat = [i for shard in shards for i in shard]
    assert len(set(flat)) == len(flat)  # no image on two processes
    evaluation = [
        order(DeviceBatches(images, labels, 4, torch.device("cpu"), MEAN, STD, rank=r, world_size=3)) for r in range(3)
    ]
    assert sorted(i for shard in evaluation for i in shard) == list(
        range(10)
    )  # every image exactly once, none repeated as padding


def test_device_flip_moves_image_and_label_together_and_no_augment_is_identity():
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(6, 5, 7, 3, generator=gen)
    labels = torch.randint(0, 30, (6, 5, 7), generator=gen, dtype=torch.uint8)
    flipped, flipped_labels = DeviceAugment(hflip=1.0, jitter=0.0)(images, labels)
    assert torch.equal(flipped, images.flip(2)) and torch.equal(flipped_labels, labels.flip(2))
    same, same_labels = DeviceAugment(hflip=0.0, jitter=0.3, jitter_p=0.0)(images, labels)
    torch.testing.assert_close(same, images, atol=1e-5, rtol=0)
    assert torch.equal(same_labels, labels)
    half = DeviceAugment(hflip=0.5, jitter=0.0, generator=torch.Generator().manual_seed(1))
    flips = [torch.equal(half(images, labels)[1][i], labels[i].flip(1)) for _ in range(40) for i in range(6)]
    assert 0.35 < np.mean(flips) < 0.65


def test_colour_jitter_stays_in_range_varies_per_image_and_keeps_grey_grey():
    images = torch.rand(64, 8, 8, 3, generator=torch.Generator().manual_seed(0))
    out = DeviceAugment(hflip=0.0, jitter=0.4, jitter_p=1.0, generator=torch.Generator().manual_seed(2)).colour_jitter(
        images
    )
    assert out.min() >= 0 and out.max() <= 1
    brightness = out.mean(dim=(1, 2, 3)) / images.mean(dim=(1, 2, 3))
    assert brightness.std() > 0.05  # each image draws its own factors
    torch.testing.assert_close(hue_rotations(torch.zeros(1)), torch.eye(3)[None], atol=1e-5, rtol=0)
    grey = torch.full((1, 3), 0.5) @ hue_rotations(torch.tensor([0.1]))[0].T
    torch.testing.assert_close(grey, torch.full((1, 3), 0.5), atol=1e-4, rtol=0)  # hue leaves grey alone
    turned = torch.tensor([[1.0, 0.0, 0.0]]) @ hue_rotations(torch.tensor([1 / 3]))[0].T  # red, a third round
    assert turned.argmax() == 1  # -> mostly green


def test_device_resident_config_errors_name_the_key(tmp_path):
    common = {"generate_dir": str(tmp_path / "g"), "cache_dir": str(tmp_path / "c"), "device_resident": True}
    with pytest.raises(ConfigError, match=r"data.device_resident=true .* needs data.cache=true"):
        SyntheticStreetsDataModule(cache=False, **common).check_config()
    with pytest.raises(ConfigError, match=r"data.augment.scale is not available with data.device_resident=true"):
        SyntheticStreetsDataModule(augment={"hflip": 0.5, "scale": [0.5, 2.0]}, **common).check_config()
    with pytest.raises(ConfigError, match=r"data.num_workers must be a number >= 0 or auto; got 'many'"):
        SyntheticStreetsDataModule(num_workers="many", **common)


def test_auto_workers_none_for_cpu_training_from_the_cache_else_cpus_per_process_less_one():
    cpus = usable_cpus()
    assert loader_workers("auto", "cpu", cached=True) == 0
    assert loader_workers("auto", "cpu", cached=False) == max(1, min(8, cpus - 1))
    assert loader_workers("auto", "cuda", cached=True, processes_per_node=2) == max(1, min(8, cpus // 2 - 1))
    assert loader_workers(3, "cpu", cached=True) == 3
    with pytest.raises(ConfigError, match=r"data\.num_workers"):
        loader_workers(-1, "cpu", cached=True)


def test_training_from_device_resident_data_runs_and_logs_the_usual_metrics(tmp_path, data_cache):
    cfg = compose_tiny(tmp_path, data_cache, ["data.device_resident=true", "data.num_workers=auto"])
    metrics = train(cfg)
    assert {"train/loss", "val/miou", "test/acc"} <= set(metrics)
    assert 0 <= metrics["test/acc"] <= 1 and np.isfinite(metrics["train/loss"])
