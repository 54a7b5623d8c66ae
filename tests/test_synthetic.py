import hashlib
import json

import numpy as np
import pytest

from src.data.labels import CITYSCAPES_LABELS, LABEL_ID, NUM_LABEL_IDS
from src.data.street_scene import draw_street_scene
from src.data.synthetic import write_synthetic_cityscapes

SIZES = {"train": 4, "val": 2, "test": 2}


def digests(root):
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.png"))
    }


def test_same_seed_writes_byte_identical_files_and_another_seed_does_not(tmp_path):
    a = write_synthetic_cityscapes(tmp_path / "a", SIZES, seed=3, height=64, width=128)
    b = write_synthetic_cityscapes(tmp_path / "b", SIZES, seed=3, height=64, width=128)
    c = write_synthetic_cityscapes(tmp_path / "c", SIZES, seed=4, height=64, width=128)
    da, db, dc = digests(a), digests(b), digests(c)
    assert len(da) == 2 * sum(SIZES.values())
    assert da == db
    assert da.keys() == dc.keys() and da != dc


def test_writes_the_cityscapes_layout(tmp_path):
    root = write_synthetic_cityscapes(tmp_path / "s", SIZES, seed=0, height=64, width=128)
    for split, n in SIZES.items():
        images = sorted((root / "leftImg8bit" / split).glob("*/*_leftImg8bit.png"))
        assert len(images) == n
        for image in images:
            name = image.name.removesuffix("_leftImg8bit.png")
            assert (root / "gtFine" / split / image.parent.name / f"{name}_gtFine_labelIds.png").is_file()
    assert json.loads((root / "synthetic.json").read_text())["sizes"] == SIZES
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left behind


def test_scenes_hold_street_classes_with_valid_label_ids():
    seen = set()
    for i in range(12):
        image, label = draw_street_scene(np.random.default_rng([7, 0, i]), 128, 256)
        assert image.shape == (128, 256, 3) and image.dtype == np.uint8
        assert label.shape == (128, 256) and label.dtype == np.uint8
        assert label.max() < NUM_LABEL_IDS
        seen |= set(np.unique(label).tolist())
    street = ("road", "sidewalk", "building", "vegetation", "terrain", "sky", "pole", "traffic sign", "car", "person")
    for name in street:
        assert LABEL_ID[name] in seen, name
    assert seen <= {label.id for label in CITYSCAPES_LABELS}


def test_colour_does_not_decide_the_class():
    # Pixels of different classes share colours: the per-class colour ranges overlap heavily.
    road, car = [], []
    for i in range(12):
        image, label = draw_street_scene(np.random.default_rng([1, 0, i]), 128, 256)
        road.append(image[label == LABEL_ID["road"]].mean(1))
        car.append(image[label == LABEL_ID["car"]].mean(1))
    road, car = np.concatenate(road), np.concatenate(car)
    lo, hi = np.percentile(road, [10, 90])
    assert ((car > lo) & (car < hi)).mean() > 0.2  # a fifth of car pixels are as bright as typical road


def test_existing_set_is_reused_and_a_different_one_is_not_overwritten(tmp_path):
    root = write_synthetic_cityscapes(tmp_path / "s", SIZES, seed=0, height=64, width=128)
    before = digests(root)
    assert write_synthetic_cityscapes(root, SIZES, seed=0, height=64, width=128) == root
    with pytest.raises(FileExistsError, match="other settings"):
        write_synthetic_cityscapes(root, SIZES, seed=1, height=64, width=128)
    assert digests(root) == before
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a synthetic dataset"):
        write_synthetic_cityscapes(tmp_path / "mine", SIZES)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_preview_puts_scenes_beside_their_coloured_labels(tmp_path):
    from PIL import Image

    from src.data.synthetic import save_preview

    path = save_preview(tmp_path / "p.png", count=2, height=32, width=64)
    assert np.array(Image.open(path)).shape == (64, 128, 3)
