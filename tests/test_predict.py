"""`python -m src.predict`: four pixel-aligned PNGs per image at the input's resolution and the overlay with a
class legend, the model's own labels, bad files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from src.core.errors import ConfigError
from src.data.labels import cityscapes_table
from src.figures.legend import MIN_FONT_PX
from src.inference.image_prediction import find_images
from src.inference.trained_run import load_trained_run
from tests.helpers import ROOT, run_in_process, run_module

pytestmark = pytest.mark.slow
KINDS = ("label", "color", "overlay", "uncertainty")  # pixel-aligned with the input
STEMS = {"street": (128, 64), "more/grey": (301, 97), "more/alpha": (200, 150)}  # (width, height)


def a_test_image(data_cache: Path) -> Path:
    return sorted((data_cache / "synthetic").glob("*/leftImg8bit/test/*/*_leftImg8bit.png"))[0]


@pytest.fixture(scope="module")
def inputs(trained_run: Path, data_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of three images: one at the training size, a grey odd-sized one and an RGBA one in a sub-folder."""
    folder = tmp_path_factory.mktemp("inputs")
    photo = Image.open(a_test_image(data_cache))
    photo.save(folder / "street.png")
    (folder / "more").mkdir()
    photo.resize((301, 97)).convert("L").save(folder / "more" / "grey.png")
    photo.resize((200, 150)).convert("RGBA").save(folder / "more" / "alpha.png")
    return folder


@pytest.fixture(scope="module")
def predicted(trained_run: Path, inputs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("predict") / "run"
    ckpt = trained_run / "checkpoints" / "last.ckpt"
    proc = run_module("src.predict", [f"ckpt_path={ckpt}", f"input={inputs}", "mc_samples=3", f"hydra.run.dir={out}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "predicting 3 image(s)" in proc.stdout  # the progress bar
    return out


def test_predict_writes_four_pngs_per_image_at_its_own_size(predicted: Path):
    palette = cityscapes_table().palette()
    for stem, (width, height) in STEMS.items():
        images = {kind: Image.open(predicted / f"{stem}_{kind}.png") for kind in KINDS}
        assert {im.size for im in images.values()} == {(width, height)}
        assert images["label"].mode == "L" and images["color"].mode == "RGB"
        labels = np.asarray(images["label"])
        assert labels.max() < 34
        assert np.array_equal(np.asarray(images["color"]), palette[labels])  # colours from the label table
        assert np.asarray(images["uncertainty"]).std() > 0  # a heat map, not a flat image
    summary = json.loads((predicted / "predictions.json").read_text())
    assert summary["mc_samples"] == 3 and summary["failed"] == [] and len(summary["images"]) == 3
    for entry in summary["images"]:
        assert 0 < entry["mean_entropy"] <= math.log(34)
        assert 0 <= entry["mean_mutual_information"] <= entry["mean_entropy"]


def test_overlay_legend_is_the_overlay_over_a_strip_of_the_predicted_classes(predicted: Path):
    table = cityscapes_table()
    palette, entries = table.palette(), json.loads((predicted / "predictions.json").read_text())["images"]
    for stem, (width, height) in STEMS.items():
        entry = next(e for e in entries if e["overlay"] == str(predicted / f"{stem}_overlay.png"))
        assert entry["overlay_legend"] == str(predicted / f"{stem}_overlay_legend.png")
        labels = np.asarray(Image.open(predicted / f"{stem}_label.png"))
        present = sorted(np.unique(labels))
        assert entry["classes_present"] == [table.names[i] for i in present]
        overlay = np.asarray(Image.open(predicted / f"{stem}_overlay.png"))
        with_legend = np.asarray(Image.open(entry["overlay_legend"]).convert("RGB"))
        assert with_legend.shape[0] > height and with_legend.shape[1] >= width  # grew by the strip
        assert np.array_equal(with_legend[:height, :width], overlay)  # the overlay itself, pixel for pixel
        strip = with_legend[height:]
        for i in present:  # a font-high swatch (1-pixel outline) of each predicted class's colour
            assert np.all(strip == palette[i], axis=-1).sum() >= (MIN_FONT_PX - 2) ** 2, table.names[i]
        shown = {tuple(palette[i]) for i in present}
        others = {tuple(palette[i]) for i in range(34)} - shown
        # No swatch of a class not predicted (its colour checked unless grey: anti-aliased black text makes greys).
        for colour in (c for c in others if len(set(c)) > 1):
            assert not np.all(strip == colour, axis=-1).any(), colour


def test_predicted_labels_are_the_models_argmax(trained_run: Path, inputs: Path, tmp_path: Path):
    """One softmax pass at the training size: the label PNG is exactly argmax of the network's logits."""
    ckpt = trained_run / "checkpoints" / "last.ckpt"
    proc = run_module(
        "src.predict",
        [f"ckpt_path={ckpt}", f"input={inputs / 'street.png'}", "mc_samples=0", f"hydra.run.dir={tmp_path}"],
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    paths = OmegaConf.create({"root_dir": str(ROOT), "data_dir": str(tmp_path), "log_dir": "x", "output_dir": "x"})
    run = load_trained_run(str(ckpt), paths)
    photo = np.asarray(Image.open(inputs / "street.png").convert("RGB"), dtype=np.float32) / 255
    x = (photo - np.array(run.config.data.mean)) / np.array(run.config.data.std)
    with torch.no_grad():
        expected = run.module(torch.from_numpy(x).float().permute(2, 0, 1)[None]).argmax(1)[0].numpy()
    assert np.array_equal(np.asarray(Image.open(tmp_path / "street_label.png")), expected)
    assert json.loads((tmp_path / "predictions.json").read_text())["uncertainty"] == "softmax entropy (nats)"


def test_predict_names_a_bad_file_and_still_writes_the_others(trained_run: Path, inputs: Path, tmp_path: Path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.png").write_bytes((inputs / "street.png").read_bytes())
    (folder / "broken.png").write_bytes(b"not a png")
    ckpt = trained_run / "checkpoints" / "last.ckpt"
    out = tmp_path / "out"
    proc = run_module("src.predict", [f"ckpt_path={ckpt}", f"input={folder}", "mc_samples=0", f"hydra.run.dir={out}"])
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert "DataError: 1 of 2 image(s) could not be read" in last and str(folder / "broken.png") in last
    assert (out / "good_overlay.png").is_file()
    assert json.loads((out / "predictions.json").read_text())["failed"][0]["input"] == str(folder / "broken.png")


@pytest.mark.parametrize(
    ("input_arg", "message"),
    [
        ("input=null", "ConfigError: input is required"),
        ("input=/no/such/place", "input=/no/such/place: no such file"),
        ("alpha=1.5", "ConfigError: alpha must be a number from 0 (photo only) to 1 (mask only), got 1.5"),
        ("size=[64]", "ConfigError: size must be [height, width], two positive integers; got [64]"),
        ("device=tpu", "ConfigError: device must be one of auto, cpu, cuda, got 'tpu'"),
        ("mc_samples=-2", "ConfigError: mc_samples must be a whole number >= 0"),
    ],
)
def test_predict_bad_input_is_one_line_error(trained_run: Path, tmp_path: Path, input_arg: str, message: str):
    ckpt = trained_run / "checkpoints" / "last.ckpt"
    image = trained_run / "images" / "val_epoch_000.png"  # any image will do
    args = [f"ckpt_path={ckpt}", f"input={image}", input_arg, f"hydra.run.dir={tmp_path}"]
    # The first case through a real `python -m src.predict` (its exit status and stderr), the others in this process.
    proc = (run_module if input_arg == "input=null" else run_in_process)("src.predict", args)
    assert proc.returncode == 1
    assert message in proc.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "predictions.json").exists()


def test_two_inputs_that_would_write_the_same_outputs_are_refused(tmp_path: Path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "a.jpg").write_bytes(b"")
    with pytest.raises(ConfigError, match="would write the same outputs; rename one"):
        find_images(str(tmp_path))
