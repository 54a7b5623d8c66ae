import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from src.data.cache import check_cache
from src.data.camvid import CamVidDataModule
from src.data.cityscapes import CityscapesDataModule
from src.data.folder import FolderDataModule
from src.data.labels import NUM_LABEL_IDS
from src.data.synthetic import SyntheticStreetsDataModule, write_synthetic_cityscapes
from tests.fake_datasets import write_camvid, write_cityscapes, write_folder

SIZES = {"train": 6, "val": 3, "test": 2}
CAMVID_MINI = Path(__file__).resolve().parents[2] / "shared" / "data" / "camvid-mini"


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return write_synthetic_cityscapes(tmp_path_factory.mktemp("scenes") / "s", SIZES, seed=0, height=64, width=128)


def cityscapes(root, tmp_path, **kwargs):
    kwargs = {"size": (24, 48), "batch_size": 2, "num_workers": 0, "cache_dir": str(tmp_path / "cache"), **kwargs}
    return CityscapesDataModule(root=str(root), **kwargs)


def all_labels(dm, split):
    dm.setup({"train": "fit", "val": "validate", "test": "test"}[split])
    return torch.stack([dm.datasets[split][i][1] for i in range(len(dm.datasets[split]))])


def test_synthetic_datamodule_generates_and_caches_once_and_serves_batches(tmp_path):
    dm = SyntheticStreetsDataModule(
        generate_dir=str(tmp_path / "gen"),
        cache_dir=str(tmp_path / "cache"),
        sizes=SIZES,
        size=(64, 128),
        batch_size=2,
        num_workers=0,
    )
    dm.prepare_data()
    dm.prepare_data()  # second call reuses both folders
    assert len(list((tmp_path / "gen").iterdir())) == 1 and len(list((tmp_path / "cache").iterdir())) == 3
    dm.setup("fit")
    dm.setup("test")
    assert {k: len(v) for k, v in dm.datasets.items()} == SIZES
    images, labels = next(iter(dm.train_dataloader()))
    assert images.shape == (2, 3, 64, 128) and images.dtype == torch.float32
    assert labels.shape == (2, 64, 128) and labels.dtype == torch.uint8
    assert int(labels.max()) < NUM_LABEL_IDS
    assert len(dm.train_dataloader()) == 3 and len(dm.val_dataloader()) == 2 and len(dm.test_dataloader()) == 1


def test_resizes_to_configured_size_keeping_label_ids_exact(scenes, tmp_path):
    dm = cityscapes(scenes, tmp_path, size=(32, 48), batch_size=3)
    dm.setup("validate")
    images, labels = next(iter(dm.val_dataloader()))
    assert images.shape == (3, 3, 32, 48) and labels.shape == (3, 32, 48)
    originals = set()
    for label_path in sorted((scenes / "gtFine" / "val").glob("*/*_labelIds.png")):
        originals |= set(np.unique(np.array(Image.open(label_path))).tolist())
    assert set(torch.unique(labels).tolist()) <= originals  # nearest: no blended, invented ids


def test_cached_and_uncached_serve_identical_samples(scenes, tmp_path):
    cached, files = cityscapes(scenes, tmp_path), cityscapes(scenes, tmp_path, cache=False)
    for dm in (cached, files):
        dm.setup("validate")
    for i in range(3):
        a, b = cached.datasets["val"][i], files.datasets["val"][i]
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not (tmp_path / "cache").exists() or len(list((tmp_path / "cache").iterdir())) == 1  # only the cached one


def test_eval_is_deterministic_and_train_augments(scenes, tmp_path):
    dm = cityscapes(scenes, tmp_path, size=(64, 128), augment={"hflip": 1.0, "jitter": 0.0})
    dm.setup("fit")
    a, b = dm.datasets["val"][0], dm.datasets["val"][0]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    train_img, train_lbl = dm.datasets["train"][0]
    dm.datasets["train"].transform = dm.datasets["val"].transform
    plain_img, plain_lbl = dm.datasets["train"][0]
    assert torch.equal(train_lbl, plain_lbl.flip(-1))  # flipped together with the image
    assert torch.allclose(train_img, plain_img.flip(-1))


def test_augment_presets_none_light_strong(scenes, tmp_path):
    from tests.helpers import compose_train

    presets = {p: dict(compose_train([f"data/augment={p}"]).data.augment) for p in ("none", "light", "strong")}
    assert presets["none"]["hflip"] == 0 and presets["none"]["jitter"] == 0 and presets["none"]["scale"] is None
    assert presets["light"]["hflip"] > 0 and presets["light"]["jitter"] > 0 and presets["light"]["scale"] is None
    assert presets["strong"]["scale"] == [0.5, 2.0] and presets["strong"]["hflip"] == presets["light"]["hflip"]

    none = cityscapes(scenes, tmp_path, size=(64, 128), augment=presets["none"])
    none.setup("fit")
    train, val = none.datasets["train"], none.datasets["val"]
    val.folder = train.folder  # the same images through both pipelines
    val._arrays = None
    assert torch.equal(train[0][0], val[0][0]) and torch.equal(train[0][1], val[0][1])

    torch.manual_seed(0)
    strong = cityscapes(scenes, tmp_path, size=(64, 128), augment=presets["strong"])
    strong.setup("fit")
    samples = [strong.datasets["train"][i % 6] for i in range(24)]
    assert all(img.shape == (3, 64, 128) and lbl.shape == (64, 128) for img, lbl in samples)
    assert any((lbl == 255).any() for _, lbl in samples)  # a shrunken image padded with ignored pixels


def test_augmentations_follow_torch_seed_in_main_process_and_workers(scenes, tmp_path):
    def batches(num_workers):
        torch.manual_seed(0)
        dm = cityscapes(scenes, tmp_path, size=(64, 128), num_workers=num_workers)
        dm.setup("fit")
        return [labels for _, labels in dm.train_dataloader()]

    assert all(torch.equal(a, b) for a, b in zip(batches(0), batches(0), strict=True))
    assert all(torch.equal(a, b) for a, b in zip(batches(2), batches(2), strict=True))


# Cityscapes label modes.


def test_cityscapes_label_ids_are_the_34_seed_classes(tmp_path):
    root = write_cityscapes(tmp_path / "cs", {"train": 2, "val": 2})
    dm = cityscapes(root, tmp_path)
    assert len(dm.class_names) == 34 and dm.class_names[7] == "road"
    assert set(torch.unique(all_labels(dm, "val")).tolist()) == {0, 7, 8, 26}


def test_cityscapes_train_ids_map_label_ids_and_ignore_void(tmp_path):
    root = write_cityscapes(tmp_path / "cs", {"train": 2, "val": 2})
    dm = cityscapes(root, tmp_path, label_mode="trainIds", num_classes=19)
    assert len(dm.class_names) == 19 and dm.class_names[:2] == ["road", "sidewalk"]
    raw = np.array(Image.open(sorted((root / "gtFine" / "val").glob("*/*_labelIds.png"))[0]))
    served = all_labels(dm, "val")[0].numpy()  # sorted like the files: bonn_000000 is the first
    expected = {0: 255, 7: 0, 8: 1, 26: 13}  # unlabeled -> ignore; road, sidewalk, car -> 0, 1, 13
    assert np.array_equal(served, np.vectorize(expected.get)(raw))


def test_cityscapes_train_ids_read_label_train_id_files_when_present(tmp_path):
    root = write_cityscapes(tmp_path / "cs", {"train": 2, "val": 2}, train_id_files=True)  # they hold 5s
    dm = cityscapes(root, tmp_path, label_mode="trainIds", num_classes=19)
    assert set(torch.unique(all_labels(dm, "val")).tolist()) == {5}
    assert set(torch.unique(all_labels(cityscapes(root, tmp_path), "val")).tolist()) == {0, 7, 8, 26}  # labelIds


def test_cityscapes_num_classes_follows_label_mode_in_config_and_mismatch_is_an_error(tmp_path):
    from tests.helpers import compose_train

    cfg = compose_train(["data=cityscapes", "data.root=/x", "data.label_mode=trainIds"])
    assert cfg.data.num_classes == 19 and cfg.model.num_classes == 19 and cfg.model.net.num_classes == 19
    root = write_cityscapes(tmp_path / "cs", {"train": 2, "val": 2})
    with pytest.raises(ValueError, match=r"data\.num_classes=34 .* set data\.num_classes=19"):
        cityscapes(root, tmp_path, label_mode="trainIds", num_classes=34).setup("fit")
    with pytest.raises(ValueError, match=r"data\.label_mode must be labelIds or trainIds"):
        cityscapes(root, tmp_path, label_mode="trainids").setup("fit")


# CamVid and folders.


def test_camvid_ignores_unlabelled_and_handles_sizes_not_divisible_by_16(tmp_path):
    root = write_camvid(tmp_path / "camvid", {"train": 4, "val": 2}, h=36, w=48)
    dm = CamVidDataModule(
        root=str(root), size=(45, 60), num_classes=11, batch_size=2, num_workers=0, cache_dir=str(tmp_path / "c")
    )
    assert dm.class_names[:4] == ["sky", "building", "pole", "road"] and len(dm.class_names) == 11
    dm.setup("fit")
    images, labels = next(iter(dm.train_dataloader()))
    assert images.shape == (2, 3, 45, 60) and labels.shape == (2, 45, 60)
    values = set(torch.unique(all_labels(dm, "val")).tolist())
    assert 11 not in values and 255 in values and values <= set(range(11)) | {255}
    assert not dm.has_split("test")
    dm.setup("test")  # no test split: a warning, no dataset
    assert "test" not in dm.datasets


@pytest.mark.skipif(not CAMVID_MINI.is_dir(), reason="../shared/data/camvid-mini is not beside this checkout")
def test_camvid_mini_real_photos(tmp_path):
    dm = CamVidDataModule(
        root=str(CAMVID_MINI), size=(90, 120), num_classes=11, batch_size=4, num_workers=0, cache_dir=str(tmp_path)
    )
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.datasets["train"]) == 16 and len(dm.datasets["val"]) == 4
    labels = all_labels(dm, "train")
    counts = torch.bincount(labels.flatten().long(), minlength=256)
    assert counts[3] > 0.15 * labels.numel()  # road is the biggest class of a road scene
    assert counts[:11].count_nonzero() >= 9 and counts[11:255].sum() == 0
    images, _ = next(iter(dm.train_dataloader()))
    assert images.shape == (4, 3, 90, 120) and -3 < images.mean() < 3


def test_folder_with_split_folders_maps_ignore_value(tmp_path):
    root = write_folder(tmp_path / "mine", {"train": 4, "val": 2}, values=(0, 1, 2, 7))
    dm = FolderDataModule(
        root=str(root),
        class_names=["bg", "road", "car"],
        ignore_index=7,
        num_classes=3,
        size=(20, 30),
        num_workers=0,
        cache_dir=str(tmp_path / "c"),
    )
    assert set(torch.unique(all_labels(dm, "val")).tolist()) == {0, 1, 2, 255}
    assert len(dm.datasets["val"]) == 2 and not dm.has_split("test")


def test_folder_without_split_folders_splits_by_fraction_reproducibly(tmp_path):
    root = write_folder(tmp_path / "mine", 20)
    kwargs = {"class_names": ["bg", "road", "car"], "num_classes": 3, "size": (20, 30), "num_workers": 0}
    dm = FolderDataModule(root=str(root), val_fraction=0.2, test_fraction=0.1, cache=False, **kwargs)
    splits = {s: dm.find_pairs(s) for s in ("train", "val", "test")}
    assert {s: len(p) for s, p in splits.items()} == {"train": 14, "val": 4, "test": 2}
    assert len({p for pairs in splits.values() for p in pairs}) == 20  # disjoint, nothing lost
    again = FolderDataModule(root=str(root), val_fraction=0.2, test_fraction=0.1, cache=False, **kwargs)
    assert again.find_pairs("val") == splits["val"]


def test_folder_config_takes_num_classes_from_class_names():
    from tests.helpers import compose_train

    cfg = compose_train(["data=folder", "data.root=/x", "data.class_names=[background,road,car,person]"])
    assert cfg.data.num_classes == 4 and cfg.model.net.num_classes == 4


# The cache.


def test_cache_is_reused_then_rebuilt_when_stale_or_corrupt(tmp_path):
    root = write_camvid(tmp_path / "camvid", {"train": 2, "val": 3})
    kwargs = {
        "root": str(root),
        "size": (18, 24),
        "num_classes": 11,
        "num_workers": 0,
        "cache_dir": str(tmp_path / "c"),
    }
    CamVidDataModule(**kwargs).setup("validate")
    (folder,) = (tmp_path / "c").glob("camvid_val_*")
    built = (folder / "meta.json").stat().st_mtime_ns
    CamVidDataModule(**kwargs).setup("validate")
    assert (folder / "meta.json").stat().st_mtime_ns == built  # reused, not rebuilt

    # Stale: a source label changes, the cache notices and serves the new labels.
    label = sorted((root / "valannot").glob("*.png"))[0]
    Image.fromarray(np.full((36, 48), 4, np.uint8)).save(label)
    with pytest.warns(UserWarning, match="stale"):
        dm = CamVidDataModule(**kwargs)
        labels = all_labels(dm, "val")
    assert (labels[0] == 4).all()

    # Corrupt: a flipped byte in the arrays is caught by the checksum, and the cache rebuilt.
    data = bytearray((folder / "labels.npy").read_bytes())
    data[-1] ^= 0xFF
    (folder / "labels.npy").write_bytes(bytes(data))
    assert check_cache(folder, "x") is not None
    with pytest.warns(UserWarning, match="corrupt"):
        CamVidDataModule(**kwargs).setup("validate")
    assert torch.equal(all_labels(CamVidDataModule(**kwargs), "val"), labels)


def test_a_failed_build_leaves_no_cache_behind(tmp_path):
    root = write_camvid(tmp_path / "camvid", {"train": 2, "val": 3})
    (sorted((root / "val").glob("*.png"))[-1]).write_bytes(b"not a png")  # the last file fails mid-build
    dm = CamVidDataModule(root=str(root), size=(18, 24), num_classes=11, num_workers=2, cache_dir=str(tmp_path / "c"))
    with pytest.raises(ValueError, match="unreadable or corrupt"):
        dm.prepare_data()
    assert not list((tmp_path / "c").glob("camvid_val_*")) and not list((tmp_path / "c").glob(".camvid_val*"))


# Bad data: one clear error naming the file, raised while preparing (before any training step).


def break_dataset(root: Path, case: str) -> tuple[Path, str]:
    """Damage a fresh CamVid copy in one way; returns the file (or folder) to be named and the expected text."""
    image = sorted((root / "train").glob("*.png"))[0]
    label = root / "trainannot" / image.name
    if case == "root missing":
        shutil.rmtree(root)
        return root, "no folder"
    if case == "split empty":
        for path in [*(root / "train").iterdir(), *(root / "trainannot").iterdir()]:
            path.unlink()
        return root / "train", "no images in"
    if case == "image without label":
        label.unlink()
        return image, "no mask for"
    if case == "label without image":
        image.unlink()
        return label, "has no image"
    if case == "different sizes":
        Image.fromarray(np.zeros((10, 12), np.uint8)).save(label)
        return label, "expected the same size"
    if case == "label out of range":
        values = np.array(Image.open(label))
        values[0, :3] = [12, 40, 255]
        Image.fromarray(values).save(label)
        return label, "label values [12, 40, 255] outside this dataset's classes; expected 0..10 or 11 (ignored)"
    if case == "corrupt png":
        image.write_bytes(image.read_bytes()[:100])
        return image, "unreadable or corrupt image file"
    if case == "16-bit label":
        Image.fromarray(np.array(Image.open(label)).astype(np.uint16) * 300).save(label)
        return label, "16-bit label PNG"
    if case == "colour label":
        colours = np.zeros((36, 48, 3), np.uint8)
        colours[..., 0] = 128  # CamVid's colour annotation style: road is (128, 64, 128)
        Image.fromarray(colours).save(label)
        return label, "not a colour-coded mask"
    raise AssertionError(case)


BAD_CASES = [
    "root missing",
    "split empty",
    "image without label",
    "label without image",
    "different sizes",
    "label out of range",
    "corrupt png",
    "16-bit label",
    "colour label",
]


@pytest.mark.parametrize("case", BAD_CASES)
@pytest.mark.parametrize("cache", [True, False])
def test_bad_data_is_one_clear_error_naming_the_file(tmp_path, case, cache):
    root = write_camvid(tmp_path / "camvid", {"train": 3, "val": 2})
    named, expected = break_dataset(root, case)
    dm = CamVidDataModule(
        root=str(root),
        size=(18, 24),
        num_classes=11,
        batch_size=2,
        num_workers=0,
        cache=cache,
        cache_dir=str(tmp_path / "c"),
    )
    with pytest.raises(ValueError) as err:  # DataError, or MissingDataError (also a FileNotFoundError)
        dm.prepare_data()
        dm.setup("fit")
        for i in range(len(dm.datasets["train"])):  # cache=false reads files only now
            dm.datasets["train"][i]
    message = str(err.value)
    assert str(named) in message and expected in message, message
    assert "\n" not in message
    assert not list((tmp_path / "c").glob("camvid_train_*"))  # no cache of a bad split


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_grayscale_and_rgba_images_are_converted_with_a_warning(tmp_path, mode):
    root = write_camvid(tmp_path / "camvid", {"train": 3, "val": 2})
    image = sorted((root / "train").glob("*.png"))[0]
    Image.open(image).convert(mode).save(image)
    dm = CamVidDataModule(
        root=str(root), size=(36, 48), num_classes=11, batch_size=2, num_workers=0, cache_dir=str(tmp_path / "c")
    )
    with pytest.warns(
        UserWarning, match=rf"1 image\(s\) of camvid_train_36x48 .* converted to RGB, e\.g\. .*\({mode}\)"
    ):
        dm.prepare_data()
    dm.setup("fit")
    dm.datasets["train"].transform = lambda image, mask: {"image": torch.from_numpy(image), "mask": mask}
    served = dm.datasets["train"][0][0]
    assert served.shape == (36, 48, 3)
    if mode == "L":
        assert torch.equal(served[..., 0], served[..., 1]) and torch.equal(served[..., 1], served[..., 2])


def test_train_id_files_are_detected_per_split(tmp_path):
    root = write_cityscapes(tmp_path / "cs", {"train": 2, "val": 2})
    write_cityscapes(tmp_path / "cs", {"train": 2}, train_id_files=True)  # train gets files holding 5s, val not
    dm = cityscapes(root, tmp_path, label_mode="trainIds", num_classes=19)
    assert set(torch.unique(all_labels(dm, "train")).tolist()) == {5}
    assert set(torch.unique(all_labels(dm, "val")).tolist()) == {255, 0, 1, 13}  # mapped from label ids


def test_binary_and_grey_rgb_masks_and_jpeg_masks(tmp_path):
    root = tmp_path / "mine"
    write_folder(root, {"train": 3, "val": 2}, values=(0, 255))
    kwargs = {"root": str(root), "class_names": ["background", "object"], "num_classes": 2, "size": (20, 30)}
    kwargs |= {"num_workers": 0, "batch_size": 2, "cache_dir": str(tmp_path / "c")}
    dm = FolderDataModule(ignore_index=None, value_map={255: 1}, **kwargs)  # 0/255 masks
    assert set(torch.unique(all_labels(dm, "val")).tolist()) == {0, 1}

    for mask in (root / "masks" / "val").glob("*.png"):  # 1-bit masks hold 0 and 1
        Image.fromarray(np.array(Image.open(mask)) > 0).convert("1").save(mask)
    for mask in (root / "masks" / "train").glob("*.png"):  # grey saved as RGB: the channels repeat one value
        Image.open(mask).convert("RGB").save(mask)
    dm = FolderDataModule(ignore_index=None, value_map={255: 1}, **kwargs)
    assert set(torch.unique(all_labels(dm, "val")).tolist()) == {0, 1}
    assert set(torch.unique(all_labels(dm, "train")).tolist()) == {0, 1}

    mask = sorted((root / "masks" / "val").glob("*.png"))[0]
    Image.open(mask).convert("L").save(mask.with_suffix(".jpg"))
    mask.unlink()
    with pytest.raises(ValueError, match=r"a JPEG mask; expected a lossless format"):
        FolderDataModule(ignore_index=None, value_map={255: 1}, **kwargs).setup("validate")


def test_fractions_that_leave_a_split_empty_or_do_not_add_up_are_errors(tmp_path):
    root = write_folder(tmp_path / "mine", 4)
    kwargs = {"root": str(root), "class_names": ["bg", "road", "car"], "num_classes": 3, "cache": False}
    with pytest.raises(ValueError, match=r"the val split is empty \(4 pairs x 0\.10 rounds to 0\)"):
        FolderDataModule(val_fraction=0.1, **kwargs).find_pairs("val")
    with pytest.raises(ValueError, match=r"data\.val_fraction=0\.6 and data\.test_fraction=0\.5"):
        FolderDataModule(val_fraction=0.6, test_fraction=0.5, **kwargs).find_pairs("train")


def test_adding_a_file_moves_no_other_file_between_folder_splits(tmp_path):
    root = write_folder(tmp_path / "mine", 20)
    kwargs = {"class_names": ["bg", "road", "car"], "num_classes": 3, "val_fraction": 0.25, "cache": False}
    before = FolderDataModule(root=str(root), **kwargs).find_pairs("val")
    new = root / "images" / "zzz_new.jpg"
    shutil.copy(sorted((root / "images").glob("*.jpg"))[0], new)
    shutil.copy(sorted((root / "masks").glob("*.png"))[0], root / "masks" / "zzz_new.png")
    after = FolderDataModule(root=str(root), **kwargs).find_pairs("val")
    assert len(set(before) - set(after)) <= 1  # at most the one pushed out by the newcomer


def test_a_train_split_smaller_than_the_batch_is_an_error(tmp_path):
    root = write_camvid(tmp_path / "camvid", {"train": 3, "val": 2})
    dm = CamVidDataModule(
        root=str(root), size=(18, 24), num_classes=11, batch_size=4, num_workers=0, cache_dir=str(tmp_path / "c")
    )
    with pytest.raises(ValueError, match=r"data\.batch_size=4 is larger than the 3 train images"):
        dm.setup("fit")


def test_relative_and_absolute_roots_share_one_cache_and_split_settings_do_not(tmp_path, monkeypatch):
    root = write_folder(tmp_path / "mine", 20)
    kwargs = {"class_names": ["bg", "road", "car"], "num_classes": 3, "size": (20, 30), "num_workers": 0}
    kwargs["cache_dir"] = str(tmp_path / "c")
    FolderDataModule(root=str(root), **kwargs).setup("validate")
    monkeypatch.chdir(tmp_path)
    dm = FolderDataModule(root="mine", **kwargs)
    dm.setup("validate")
    assert dm.cache_status == {"val": "reused"}
    other = FolderDataModule(root="mine", split_seed=1, **kwargs)
    other.setup("validate")
    assert other.cache_status == {"val": "built"}  # another split: its own cache, not a "stale" rebuild
    assert len(list((tmp_path / "c").glob("folder_val_*"))) == 2


def test_a_full_disk_is_a_data_error_naming_the_cache_dir(tmp_path, monkeypatch):
    import errno
    import os

    def no_space(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", no_space)
    root = write_camvid(tmp_path / "camvid", {"train": 2, "val": 2})
    dm = CamVidDataModule(root=str(root), size=(18, 24), num_classes=11, num_workers=0, cache_dir=str(tmp_path / "c"))
    with pytest.raises(ValueError, match=r"cannot reserve .* MiB for the data cache \(No space left on device\)"):
        dm.prepare_data()
    assert not list((tmp_path / "c").iterdir())  # the temporary folder went too


def test_each_loader_worker_draws_its_own_augmentations(scenes, tmp_path):
    from src.data.datamodule import seed_worker_transform
    from src.data.segmentation_dataset import CachedDataset

    class SameImage(CachedDataset):  # 16 reads of image 0: only the random flip can change what is served
        def __len__(self) -> int:
            return 16

        def __getitem__(self, index: int):
            return super().__getitem__(0)

    dm = cityscapes(scenes, tmp_path, size=(64, 128), num_workers=2, augment={"hflip": 0.5, "jitter": 0.0})
    dm.setup("fit")
    train = dm.datasets["train"]
    same = SameImage(train.folder, train.transform)
    images, labels = same._arrays_or_load()
    plain = dm.datasets["val"].transform(image=np.array(images[0]), mask=np.array(labels[0]))["image"]
    loader = torch.utils.data.DataLoader(same, batch_size=1, num_workers=2, worker_init_fn=seed_worker_transform)
    flipped = [not torch.equal(image[0], plain) for image, _ in loader]
    assert flipped[0::2] != flipped[1::2]  # worker 0 serves batches 0, 2, ...; worker 1 serves 1, 3, ...
    assert 0 < sum(flipped) < 16


def test_a_class_never_seen_while_pixels_are_ignored_is_warned(tmp_path):
    root = write_folder(tmp_path / "mine", {"train": 3, "val": 2}, values=(0, 255))  # 0/255 masks, no value_map
    dm = FolderDataModule(
        root=str(root),
        class_names=["background", "road"],
        num_classes=2,
        size=(20, 30),
        batch_size=2,
        num_workers=0,
        cache_dir=str(tmp_path / "c"),
    )
    with pytest.warns(UserWarning, match=r"classes \['road'\] have no pixels in the train split while .*% of pixels"):
        dm.prepare_data()
    assert dm.label_counts("train")[1] == 0 and dm.label_counts("train")[255] > 0


def test_a_bad_test_file_stops_the_run_before_training(tmp_path):
    root = write_folder(tmp_path / "mine", {"train": 3, "val": 2, "test": 2}, values=(0, 1))
    bad = sorted((root / "masks" / "test").glob("*.png"))[0]
    Image.fromarray(np.full((20, 30), 9, np.uint8)).save(bad)
    dm = FolderDataModule(
        root=str(root), class_names=["a", "b"], num_classes=2, size=(20, 30), num_workers=0, cache_dir=str(tmp_path)
    )
    with pytest.raises(ValueError, match=str(bad)):
        dm.prepare_data()  # what Lightning runs before fit
