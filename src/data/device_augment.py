"""Flip and photometric jitter of a whole uint8 batch on its own device, for data served from device memory.

albumentations works on one numpy image at a time on the host; a batch that already lives on a GPU would have to
come back for it. These are the same kinds of transform as data/augment (horizontal flip; brightness, contrast,
saturation, hue), drawn per image, in a fixed order, with hue rotated in YIQ space rather than shifted in HSV:
close to, not bit-identical with, the host pipeline.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch

GREY = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as albumentations/OpenCV use for grey
RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


YIQ_TO_RGB = torch.linalg.inv(RGB_TO_YIQ)


@functools.cache
def constant(values: tuple, device: torch.device) -> torch.Tensor:
    """A small constant tensor on `device`, copied there once rather than every batch."""
    return torch.as_tensor(values, device=device)  # a tuple, or a tensor (the YIQ matrices), without a copy warning


def hue_rotations(shift: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) RGB->RGB matrices turning each image's hue by `shift` (fractions of a turn; + : red->green)."""
    to_yiq, to_rgb = constant(RGB_TO_YIQ, shift.device), constant(YIQ_TO_RGB, shift.device)
    angle = 2 * math.pi * shift
    cos, sin, one, zero = angle.cos(), angle.sin(), torch.ones_like(angle), torch.zeros_like(angle)
    rotate = torch.stack([one, zero, zero, zero, cos, sin, zero, -sin, cos], dim=-1).view(-1, 3, 3)
    return to_rgb @ rotate @ to_yiq


class DeviceAugment:
    """Random horizontal flip and colour jitter of (B, H, W, 3) float images in [0, 1] and their (B, H, W) labels."""

    def __init__(
        self, hflip: float = 0.5, jitter: float = 0.2, jitter_p: float = 0.8, generator: torch.Generator | None = None
    ) -> None:
        self.hflip, self.jitter, self.jitter_p, self.generator = hflip, jitter, jitter_p, generator

    def _uniform(self, n: int, low: float, high: float, device: torch.device) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, device=device, generator=self.generator)

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, device = len(images), images.device
        if self.hflip > 0:
            flip = self._uniform(n, 0, 1, device) < self.hflip
            images = torch.where(flip[:, None, None, None], images.flip(2), images)
            labels = torch.where(flip[:, None, None], labels.flip(2), labels)
        if self.jitter > 0:
            images = self.colour_jitter(images)
        return images, labels

    def colour_jitter(self, images: torch.Tensor) -> torch.Tensor:
        """Brightness, contrast, saturation (factors in [1-j, 1+j]) and hue (shift in [-j/4, j/4]), each image with
        probability jitter_p; values stay in [0, 1] after every step, as in albumentations."""
        n, device, j = len(images), images.device, self.jitter
        applied = (self._uniform(n, 0, 1, device) < self.jitter_p).float()

        def factors(low: float, high: float) -> torch.Tensor:
            return (1 + applied * (self._uniform(n, low, high, device) - 1)).view(n, 1, 1, 1)

        grey_weights = constant(GREY, device)
        images = (images * factors(max(0.0, 1 - j), 1 + j)).clamp(0, 1)
        grey = images @ grey_weights
        mean = grey.mean(dim=(1, 2)).view(n, 1, 1, 1)
        images = ((images - mean) * factors(max(0.0, 1 - j), 1 + j) + mean).clamp(0, 1)
        grey = (images @ grey_weights).unsqueeze(-1)
        images = ((images - grey) * factors(max(0.0, 1 - j), 1 + j) + grey).clamp(0, 1)
        shift = applied * self._uniform(n, -j / 4, j / 4, device)
        rotation = hue_rotations(shift)  # (n, 3, 3)
        return torch.einsum("bhwc,bdc->bhwd", images, rotation).clamp(0, 1)


def normalise(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """(x - mean) / std over the last (channel) dimension."""
    return (images - constant(tuple(mean), images.device)) / constant(tuple(std), images.device)
