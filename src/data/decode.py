"""Read one image/label pair from disk, check it, map its labels to training indices and resize it.

Every check names the file and what was expected, because a bad file among thousands is otherwise a mystery
traceback deep inside a DataLoader worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from src.core.errors import DataError
from src.data.labels import ClassTable

RGB_CONVERTIBLE = {"L", "LA", "RGBA", "P", "PA", "CMYK", "YCbCr", "1"}  # 8-bit modes with an obvious RGB
LABEL_MODES = {"L", "P"}  # one 8-bit channel of class values
GREY_IN_COLOUR = {"RGB": 3, "RGBA": 3, "LA": 1}  # modes whose first channels may all repeat one grey value


def _open(path: Path) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()  # decode now: a truncated or corrupt file fails here, not later
    except FileNotFoundError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{path}: unreadable or corrupt image file ({err})") from None
    return image


def read_image(path: Path) -> tuple[np.ndarray, str | None]:
    """(H, W, 3) uint8 RGB, and the original mode when it had to be converted (grayscale, RGBA, palette)."""
    image = _open(path)
    if image.mode == "RGB":
        return np.asarray(image), None
    if image.mode in RGB_CONVERTIBLE:
        return np.asarray(image.convert("RGB")), image.mode
    raise DataError(f"{path}: image mode {image.mode} (16-bit or float); expected an 8-bit RGB image")


def read_label(path: Path) -> np.ndarray:
    """(H, W) uint8 raw label values."""
    label = _open(path)
    if label.mode in LABEL_MODES:
        return np.asarray(label)
    if label.mode == "1":  # a 1-bit mask: 0 and 1, not 0 and 255
        return np.asarray(label, dtype=np.uint8)
    if label.mode in GREY_IN_COLOUR:  # saved as colour but grey: the class values repeated in each channel
        values = np.asarray(label)
        grey = values[..., 0]
        if (values[..., : GREY_IN_COLOUR[label.mode]] == grey[..., None]).all():
            return np.ascontiguousarray(grey)
    if label.mode.startswith("I"):
        raise DataError(f"{path}: a 16-bit label PNG (mode {label.mode}); expected 8-bit class values (mode L or P)")
    raise DataError(
        f"{path}: a {label.mode} label image; expected one 8-bit channel of class values (mode L or P),"
        " not a colour-coded mask"
    )


def map_labels(label: np.ndarray, table: ClassTable, path: Path) -> np.ndarray:
    """Raw values -> training indices (void -> ignore); values the dataset does not define are an error."""
    present = np.bincount(label.ravel(), minlength=256).astype(bool)
    bad = np.flatnonzero(present & ~table.valid)
    if bad.size:
        raise DataError(
            f"{path}: label values {bad.tolist()[:10]} outside this dataset's classes; expected {table.description}"
        )
    return table.lut[label]


def resize_image(image: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Resize a photo to (H, W): area averaging when shrinking (no aliasing), bilinear when growing."""
    height, width = size
    if image.shape[:2] == (height, width):
        return image
    shrink = height <= image.shape[0] and width <= image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def resize_pair(image: np.ndarray, label: np.ndarray, size: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Resize to (H, W): the photo as `resize_image` does, labels nearest."""
    height, width = size
    if image.shape[:2] == (height, width):
        return image, label
    image = resize_image(image, size)
    # NEAREST_EXACT samples each target pixel's centre, as area averaging does; plain NEAREST takes the top-left
    # source pixel, shifting labels ~half a target pixel up-left of their image.
    label = cv2.resize(label, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)
    return image, label


def load_pair(
    image_path: Path, label_path: Path, table: ClassTable, size: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Decode, check, map and resize one pair: (image (H, W, 3) uint8, label (H, W) uint8, converted mode)."""
    image, converted = read_image(image_path)
    label = read_label(label_path)
    if image.shape[:2] != label.shape:
        raise DataError(
            f"{label_path}: label is {label.shape[1]}x{label.shape[0]} but its image {image_path} is"
            f" {image.shape[1]}x{image.shape[0]}; expected the same size"
        )
    image, label = resize_pair(image, map_labels(label, table, label_path), size)
    return np.ascontiguousarray(image), np.ascontiguousarray(label), converted
