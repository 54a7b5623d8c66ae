"""What UNet and UNet++ share: the reference UNet's settings, checked once, and what follows from them.

Both networks take the same seven settings (`model.net.*`) with the reference's defaults, build their levels
at widths base_channels * 2**i, and pad inputs to a multiple of 2**depth. UNet++ adds its own settings
(deep supervision, pruning) as keyword-only arguments and hands the rest on to `UNetFamily`.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from src.core.errors import ConfigError
from src.models.blocks import DROPOUT_MODES, ConvBlock, Head


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


class UNetFamily(nn.Module):
    """The settings of the reference UNet (its defaults: 3 colours in, 34 classes, widths 64 -> 1024 over 4
    levels, dropout 0.2 then 0.5 per block, a 3-channel head) and what a subclass builds with them.

    `arch` holds the settings (a copy is `type(net)(**net.arch)`), `widths` the channels per level and
    `pad_multiple` what inputs are padded to (src/models/blocks.py `pad_to_multiple`). Holds no weights itself,
    so the subclasses' checkpoints keep their keys.
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
        self.arch = {
            "in_channels": in_channels,
            "num_classes": num_classes,
            "base_channels": base_channels,
            "depth": depth,
            "dropout": tuple(dropout),
            "head_channels": head_channels,
            "dropout_mode": dropout_mode,
        }
        self.depth = depth
        self.widths = [base_channels * 2**i for i in range(depth + 1)]
        self.pad_multiple = 2**depth  # every level then sees whole pixels

    def conv_block(self, in_channels: int, out_channels: int) -> ConvBlock:
        """A conv block with this network's dropout."""
        return ConvBlock(in_channels, out_channels, self.arch["dropout"], self.arch["dropout_mode"])

    def classifier_head(self) -> Head:
        """A head from the first level's width to the classes, as `head_channels` says."""
        return Head(self.widths[0], self.arch["num_classes"], self.arch["head_channels"])
