"""Segmentation networks; nothing here imports data or training code, so a network can be reused alone."""

from src.models.nested_unet import NestedUNet
from src.models.pixel_classifier import PixelClassifier
from src.models.unet import UNet

__all__ = ["NestedUNet", "PixelClassifier", "UNet"]
