"""The reference UNet: encoder -> bottleneck -> decoder with skip connections -> head."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from src.models.blocks import Down, Up, pad_to_multiple
from src.models.unet_family import UNetFamily


class UNet(UNetFamily):
    """A `depth`-level UNet with widths base_channels * 2**i (64 -> 1024 at the reference's depth 4).

    Takes `UNetFamily`'s settings (in_channels, num_classes, base_channels, depth, dropout, head_channels,
    dropout_mode). Inputs of any size work: they are padded to a multiple of 2**depth and the logits cropped back.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        widths, depth = self.widths, self.depth
        self.stem = self.conv_block(self.arch["in_channels"], widths[0])
        self.downs = nn.ModuleList(Down(widths[i]) for i in range(depth))
        self.encoders = nn.ModuleList(self.conv_block(widths[i], widths[i + 1]) for i in range(depth))
        # Decoder level i: upsample widths[i+1] -> widths[i], concat the skip (widths[i]), block back to widths[i].
        self.ups = nn.ModuleList(Up(widths[i + 1]) for i in reversed(range(depth)))
        self.decoders = nn.ModuleList(self.conv_block(widths[i + 1], widths[i]) for i in reversed(range(depth)))
        self.head = self.classifier_head()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, self.pad_multiple)
        x = self.stem(x)
        skips = [x]
        for down, encoder in zip(self.downs, self.encoders, strict=True):
            x = encoder(down(x))
            skips.append(x)
        skips.pop()  # the bottleneck is not a skip
        for up, decoder in zip(self.ups, self.decoders, strict=True):
            x = decoder(up(x, skips.pop()))
        return self.head(x)[..., :h, :w]
