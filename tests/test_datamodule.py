import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from src.data.datamodule import CityscapesDataModule, SyntheticStreetsDataModule
from src.data.labels import NUM_LABEL_IDS
from src.data.synthetic import write_synthetic_cityscapes

SIZES = {"train": 6, "val": 3, "test": 2}


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return write_synthetic_cityscapes(tmp_path_factory.mktemp("scenes") / "s", SIZES, seed=0, height=64, width=128)


def test_synthetic_datamodule_generates_once_and_serves_batches(tmp_path):
    dm = SyntheticStreetsDataModule(cache_dir=str(tmp_path), sizes=SIZES, size=(64, 128), batch_size=2, num_workers=0)
    dm.prepare_data()
    dm.prepare_data()  # second call reuses the folder
    assert len(list(tmp_path.iterdir())) == 1
    dm.setup("fit")
    dm.setup("test")
    assert {k: len(v) for k, v in dm.datasets.items()} == SIZES
    images, labels = next(iter(dm.train_dataloader()))
    assert images.shape == (2, 3, 64, 128) and images.dtype == torch.float32
    assert labels.shape == (2, 64, 128) and labels.dtype == torch.uint8
    assert int(labels.max()) < NUM_LABEL_IDS
    assert len(dm.train_dataloader()) == 3 and len(dm.val_dataloader()) == 2 and len(dm.test_dataloader()) == 1


def test_resizes_to_configured_size_keeping_label_ids_exact(scenes):
    dm = CityscapesDataModule(root=str(scenes), size=(32, 48), batch_size=3, num_workers=0)
    dm.setup("validate")
    images, labels = next(iter(dm.val_dataloader()))
    assert images.shape == (3, 3, 32, 48) and labels.shape == (3, 32, 48)
    originals = set()
    for _, label_path in dm.datasets["val"].pairs:
        originals |= set(np.unique(np.array(Image.open(label_path))).tolist())
    assert set(torch.unique(labels).tolist()) <= originals  # nearest: no blended, invented ids


def test_eval_is_deterministic_and_train_augments(scenes):
    dm = CityscapesDataModule(root=str(scenes), size=(64, 128), num_workers=0, augment={"hflip": 1.0, "jitter": 0.0})
    dm.setup("fit")
    a, b = dm.datasets["val"][0], dm.datasets["val"][0]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    train_img, train_lbl = dm.datasets["train"][0]
    dm.datasets["train"].transform = dm.datasets["val"].transform
    plain_img, plain_lbl = dm.datasets["train"][0]
    assert torch.equal(train_lbl, plain_lbl.flip(-1))  # flipped together with the image
    assert torch.allclose(train_img, plain_img.flip(-1))


@pytest.mark.parametrize("make", ["missing", "empty", "no_split"])
def test_missing_or_empty_root_names_the_path_and_the_layout(tmp_path, make):
    root = tmp_path / "cityscapes"
    if make != "missing":
        root.mkdir()
    if make == "no_split":
        (root / "leftImg8bit" / "val").mkdir(parents=True)
    dm = CityscapesDataModule(root=str(root), num_workers=0)
    with pytest.raises(FileNotFoundError) as err:
        dm.setup("fit")
    message = str(err.value)
    assert str(root / "leftImg8bit" / "train") in message
    assert "<root>/leftImg8bit/<split>/<city>/<name>_leftImg8bit.png" in message
    assert "gtFine/<split>/<city>/<name>_gtFine_labelIds.png" in message


def test_image_without_label_names_the_expected_label_file(scenes, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(scenes, root)
    label = sorted((root / "gtFine" / "val").glob("*/*_gtFine_labelIds.png"))[0]
    label.unlink()
    dm = CityscapesDataModule(root=str(root), num_workers=0)
    with pytest.raises(FileNotFoundError, match=f"expected {label}"):
        dm.setup("validate")


def test_augmentations_follow_torch_seed_in_main_process_and_workers(scenes):
    def batches(num_workers):
        torch.manual_seed(0)
        dm = CityscapesDataModule(root=str(scenes), size=(64, 128), batch_size=2, num_workers=num_workers)
        dm.setup("fit")
        return [labels for _, labels in dm.train_dataloader()]

    assert all(torch.equal(a, b) for a, b in zip(batches(0), batches(0), strict=True))
    assert all(torch.equal(a, b) for a, b in zip(batches(2), batches(2), strict=True))
