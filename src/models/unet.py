"""The seed UNet: encoder -> bottleneck -> decoder with skip connections -> head."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from src.core.errors import ConfigError
from src.models.blocks import DROPOUT_MODES, ConvBlock, Down, Head, Up


def check_net_args(
    num_classes: int, base_channels: int, depth: int, dropout: Sequence[float], dropout_mode: str = "element"
) -> None:
    """Reject settings that cannot build a network, naming the config key at fault."""
    if depth < 1:
        raise ConfigError(f"model.net.depth must be >= 1, got {depth}")
    if base_channels < 1:
        raise ConfigError(f"model.net.base_channels must be >= 1, got {base_channels}")
    if num_classes < 2:
        raise ConfigError(f"model.net.num_classes must be >= 2, got {num_classes}")
    if len(dropout) != 2 or not all(0.0 <= p < 1.0 for p in dropout):
        raise ConfigError(f"model.net.dropout must be two probabilities in [0, 1), got {list(dropout)}")
    if dropout_mode not in DROPOUT_MODES:
        raise ConfigError(f"model.net.dropout_mode must be one of {', '.join(DROPOUT_MODES)}, got {dropout_mode!r}")


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Replicate-pad H and W up to a multiple of `multiple`, so any input size survives the downsampling."""
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    return x, (h, w)


class UNet(nn.Module):
    """A `depth`-level UNet with widths base_channels * 2**i (64 -> 1024 at the seed's depth 4).

    Inputs of any size work: they are padded to a multiple of 2**depth and the logits cropped back.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 34,
        base_channels: int = 64,
        depth: int = 4,
        dropout: Sequence[float] = (0.2, 0.5),
        head_channels: int | None = 3,
        dropout_mode: str = "element",
    ) -> None:
        super().__init__()
        check_net_args(num_classes, base_channels, depth, dropout, dropout_mode)
        dropout = tuple(dropout)
        widths = [base_channels * 2**i for i in range(depth + 1)]
        self.depth = depth
        self.stem = ConvBlock(in_channels, widths[0], dropout, dropout_mode)
        self.downs = nn.ModuleList(Down(widths[i]) for i in range(depth))
        self.encoders = nn.ModuleList(ConvBlock(widths[i], widths[i + 1], dropout, dropout_mode) for i in range(depth))
        # Decoder level i: upsample widths[i+1] -> widths[i], concat the skip (widths[i]), block back to widths[i].
        self.ups = nn.ModuleList(Up(widths[i + 1]) for i in reversed(range(depth)))
        self.decoders = nn.ModuleList(
            ConvBlock(widths[i + 1], widths[i], dropout, dropout_mode) for i in reversed(range(depth))
        )
        self.head = Head(widths[0], num_classes, head_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, 2**self.depth)
        x = self.stem(x)
        skips = [x]
        for down, encoder in zip(self.downs, self.encoders, strict=True):
            x = encoder(down(x))
            skips.append(x)
        skips.pop()  # the bottleneck is not a skip
        for up, decoder in zip(self.ups, self.decoders, strict=True):
            x = decoder(up(x, skips.pop()))
        return self.head(x)[..., :h, :w]
