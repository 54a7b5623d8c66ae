"""The built-in street scenes: written once in the Cityscapes folder layout, so training needs no download,
and the DataModule that serves them (or a real Cityscapes copy, given `root`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from src.data.cityscapes import CityscapesDataModule
from src.data.datamodule import check_size
from src.data.street_scene import GENERATOR_VERSION, draw_street_scene

CITIES = {"train": ("aachen", "bochum", "cologne"), "val": ("dresden",), "test": ("erfurt",)}
SPLIT_OFFSET = {"train": 0, "val": 1, "test": 2}


def _write_split(out: Path, split: str, count: int, seed: int, height: int, width: int) -> None:
    cities = CITIES[split]
    for i in range(count):
        rng = np.random.default_rng([seed, SPLIT_OFFSET[split], i])
        image, label = draw_street_scene(rng, height, width)
        city = cities[i % len(cities)]
        stem = f"{city}_{i // len(cities):06d}_000019"
        img_dir, gt_dir = out / "leftImg8bit" / split / city, out / "gtFine" / split / city
        img_dir.mkdir(parents=True, exist_ok=True)
        gt_dir.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(img_dir / f"{stem}_leftImg8bit.png")
        Image.fromarray(label).save(gt_dir / f"{stem}_gtFine_labelIds.png")


def write_synthetic_cityscapes(
    root: str | Path, sizes: dict[str, int], seed: int = 0, height: int = 128, width: int = 256
) -> Path:
    """Write the scenes once into `root` in the Cityscapes layout; a finished `root` is reused as is.

    The folder is built beside `root` and renamed into place at the end, so a killed build never leaves a
    half-written dataset that a later run would trust.
    """
    root = Path(root)
    params = {"version": GENERATOR_VERSION, "sizes": dict(sizes), "seed": seed, "height": height, "width": width}
    stamp = root / "synthetic.json"
    if stamp.is_file():
        if json.loads(stamp.read_text()) == params:
            return root
        raise FileExistsError(
            f"{root} holds synthetic data made with other settings ({stamp.read_text().strip()}), not {params}; "
            "delete it to regenerate"
        )
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} exists and is not a synthetic dataset (no synthetic.json); move it away")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        for split, count in sizes.items():
            _write_split(tmp, split, int(count), seed, height, width)
        (tmp / "synthetic.json").write_text(json.dumps(params, indent=2) + "\n")
        if root.exists():
            root.rmdir()  # empty, checked above
        os.replace(tmp, root)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if stamp.is_file() and json.loads(stamp.read_text()) == params:
            return root  # another process finished the same set first
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def save_preview(path: str | Path, count: int = 4, seed: int = 0, height: int = 128, width: int = 256) -> Path:
    """Save `count` train scenes beside their colourised labels as one PNG, to see what the model learns from."""
    from src.data.labels import colorize

    rows = []
    for i in range(count):
        image, label = draw_street_scene(np.random.default_rng([seed, SPLIT_OFFSET["train"], i]), height, width)
        rows.append(np.concatenate([image, colorize(label)], axis=1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)
    return path


class SyntheticStreetsDataModule(CityscapesDataModule):
    """The built-in street scenes: generated once into `generate_dir` (keyed by the generator settings).

    Setting `root` reads a real Cityscapes copy there instead, with the same loaders and transforms.
    """

    name = "synthetic"

    def __init__(
        self,
        root: str | None = None,
        generate_dir: str = "data/synthetic",
        seed: int = 0,
        sizes: dict[str, int] | None = None,
        **kwargs,
    ) -> None:
        sizes = dict(sizes or {"train": 600, "val": 100, "test": 100})
        height, width = check_size(kwargs.get("size", (128, 256)))
        self.generate = root is None
        if self.generate:
            key = f"v{GENERATOR_VERSION}_seed{seed}_" + "-".join(f"{s}{n}" for s, n in sizes.items())
            root = str(Path(generate_dir) / f"{key}_{height}x{width}")
        super().__init__(root=root, **kwargs)
        self.seed, self.sizes, self.height, self.width = seed, sizes, height, width
        if not self.generate:
            self.name = "cityscapes"

    def has_split(self, split: str) -> bool:
        return self.sizes.get(split, 0) > 0 if self.generate else super().has_split(split)

    def prepare_data(self) -> None:
        if self.generate:
            write_synthetic_cityscapes(self.root, self.sizes, self.seed, self.height, self.width)
        super().prepare_data()

    def setup(self, stage: str | None = None) -> None:
        if self.generate:  # setup() without prepare_data() (tests, notebooks): generate first
            write_synthetic_cityscapes(self.root, self.sizes, self.seed, self.height, self.width)
        super().setup(stage)


if __name__ == "__main__":
    import sys

    print(save_preview(sys.argv[1] if len(sys.argv) > 1 else "synthetic_scenes.png"))
