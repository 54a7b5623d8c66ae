"""Class legends: the prediction grid's matplotlib legend (names, swatch colours, room of its own), the PIL
strip under a PNG (the image untouched above it, a swatch of each class's colour in it), and the report's
side-by-side of grids whose legends differ in height."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from PIL import Image

from src.data.labels import cityscapes_table
from src.figures.legend import MIN_FONT_PX, legend_font_px, present_classes, with_legend_below
from src.figures.segmentation import prediction_grid
from src.figures.side_by_side import TITLE_PX, side_by_side

TABLE = cityscapes_table()
PALETTE = TABLE.palette()
NAMES = list(TABLE.names)


def grid(rows: int, truth_classes: list[int], predicted_classes: list[int], title: str = "t"):
    """A prediction grid of `rows` 32 x 64 samples whose truths and predictions hold exactly the given classes."""
    rng = np.random.default_rng(0)

    def maps(classes: list[int]) -> list[np.ndarray]:
        return [rng.choice(np.array(classes, dtype=np.uint8), size=(32, 64)) for _ in range(rows)]

    photos = [rng.integers(0, 256, (32, 64, 3), dtype=np.uint8) for _ in range(rows)]
    uncertainties = [rng.random((32, 64)) for _ in range(rows)]
    truths, predictions = maps(truth_classes), maps(predicted_classes)
    return prediction_grid(photos, truths, predictions, uncertainties, PALETTE, NAMES, vmax=1.0, title=title)


def test_present_classes_are_ascending_and_leave_out_ignored_pixels():
    maps = [np.array([[26, 7], [255, 7]], dtype=np.uint8), np.array([[23, 40]], dtype=np.uint8)]
    assert present_classes(maps, num_classes=34) == [7, 23, 26]


def test_prediction_grid_legend_names_and_colours_the_classes_shown():
    fig = grid(rows=2, truth_classes=[7, 23, 255], predicted_classes=[7, 26])  # 255: ignored, no class
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["road", "sky", "car"]
    swatches = [tuple(round(c * 255) for c in to_rgb(h.get_facecolor())) for h in legend.legend_handles]
    assert swatches == [(128, 64, 128), (70, 130, 180), (0, 0, 142)]


@pytest.mark.parametrize("rows", [1, 4])
def test_a_long_legend_gets_room_of_its_own_under_the_panels(rows: int):
    """All 34 classes shown (an untrained net): six legend rows, below every panel and the colour bar."""
    fig = grid(rows, truth_classes=list(range(34)), predicted_classes=[0])
    FigureCanvasAgg(fig).draw()
    (legend,) = fig.legends
    assert len(legend.get_texts()) == 34
    box = legend.get_window_extent()
    assert box.y0 >= 0  # inside the figure
    assert all(box.y1 <= ax.get_window_extent().y0 for ax in fig.axes)  # no panel, nor the colour bar, on it


def colour_pixels(image: np.ndarray, colour: tuple[int, int, int]) -> int:
    return int(np.all(image == colour, axis=-1).sum())


def test_legend_strip_under_an_image_holds_a_swatch_per_class():
    image = np.random.default_rng(0).integers(0, 256, (100, 400, 3), dtype=np.uint8)
    classes = [7, 11, 21, 24, 26]  # road, building, vegetation, person, car
    out = with_legend_below(image, classes, NAMES, PALETTE)
    assert out.shape[1] == 400 and out.shape[0] > 100 and out.dtype == np.uint8
    assert np.array_equal(out[:100], image)  # the image itself untouched, pixel for pixel
    strip = out[100:]
    inner = (MIN_FONT_PX - 2) ** 2  # a swatch is a font-high square with a 1-pixel outline
    for i in classes:
        assert colour_pixels(strip, tuple(PALETTE[i])) >= inner, NAMES[i]
    for absent in (8, 19, 23, 25):  # sidewalk, traffic light, sky, rider: not listed, so not drawn
        assert colour_pixels(strip, tuple(PALETTE[absent])) == 0, NAMES[absent]


def test_legend_strip_wraps_into_rows_widens_a_narrow_image_and_scales_its_font():
    classes = list(range(7, 27))
    wide = with_legend_below(np.zeros((50, 1600, 3), np.uint8), classes, NAMES, PALETTE)
    narrow = with_legend_below(np.zeros((50, 40, 3), np.uint8), classes, NAMES, PALETTE)
    assert narrow.shape[0] - 50 > wide.shape[0] - 50  # one column: a taller strip
    assert narrow.shape[1] > 40 and np.all(narrow[:50, 40:] == 255)  # widened to one column, white beside it
    assert np.array_equal(narrow[:50, :40], np.zeros((50, 40, 3), np.uint8))
    assert legend_font_px(256) == MIN_FONT_PX and legend_font_px(2048) == 26  # ~1/80 of the width, not below 12


def test_grids_of_the_same_width_go_side_by_side_top_aligned(tmp_path: Path):
    """Two runs' grids differ in height when their legends have different row counts: still one PNG."""
    Image.new("RGB", (60, 40), (0, 128, 128)).save(tmp_path / "short.png")
    Image.new("RGB", (60, 70), (200, 0, 0)).save(tmp_path / "tall.png")
    assert side_by_side({"a": tmp_path / "short.png", "b": tmp_path / "tall.png"}, tmp_path / "both.png")
    with Image.open(tmp_path / "both.png") as both:
        image = np.asarray(both.convert("RGB"))
    assert image.shape[0] == 70 + TITLE_PX and image.shape[1] > 2 * 60
    assert tuple(image[TITLE_PX + 20, 30]) == (0, 128, 128) and tuple(image[TITLE_PX + 60, 30]) == (255, 255, 255)
    assert tuple(image[TITLE_PX + 60, -30]) == (200, 0, 0)
    Image.new("RGB", (50, 40)).save(tmp_path / "narrow.png")  # a different width: no shared layout
    assert not side_by_side({"a": tmp_path / "short.png", "c": tmp_path / "narrow.png"}, tmp_path / "no.png")
    assert not (tmp_path / "no.png").exists()


@pytest.mark.slow
def test_validation_grids_of_a_training_run_carry_the_legend(trained_run: Path):
    """The callback's PNG (also TensorBoard's image and the report's): class swatches in its bottom 0.3 inch."""
    grids = sorted((trained_run / "images").glob("val_epoch_*.png"))
    assert grids
    with Image.open(grids[-1]) as image:
        bottom = np.asarray(image.convert("RGB"))[-33:]  # 0.3 inch at the grid's 110 dpi: the last legend row
    named = [i for i in range(len(NAMES)) if len(set(PALETTE[i])) > 1]  # colours no grey text could make
    assert any(colour_pixels(bottom, tuple(PALETTE[i])) >= 25 for i in named)
