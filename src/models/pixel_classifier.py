"""A per-pixel colour classifier: the baseline that shows how much of a task colour alone decides."""

from __future__ import annotations

from torch import nn

from src.core.errors import ConfigError


class PixelClassifier(nn.Sequential):
    """1x1 convolutions only: each pixel is classified from its own colour, with no spatial context."""

    def __init__(self, in_channels: int = 3, num_classes: int = 34, hidden_channels: int = 64, layers: int = 2) -> None:
        if layers < 1:
            raise ConfigError(f"model.net.layers must be >= 1, got {layers}")
        modules: list[nn.Module] = []
        channels = in_channels
        for _ in range(layers):
            modules += [nn.Conv2d(channels, hidden_channels, 1), nn.BatchNorm2d(hidden_channels), nn.ReLU(inplace=True)]
            channels = hidden_channels
        modules.append(nn.Conv2d(channels, num_classes, 1))
        super().__init__(*modules)
