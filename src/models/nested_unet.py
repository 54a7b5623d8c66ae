"""UNet++ (Zhou et al., DLMIA 2018 / TMI 2019): the reference UNet with nested, dense skip pathways.

Node X^{i,j} sits at depth i (resolution 1/2**i, width base_channels * 2**i) and position j along its skip
pathway. X^{i,0} is the encoder; for j >= 1, X^{i,j} = Block(concat(X^{i,0}, ..., X^{i,j-1}, Up(X^{i+1,j-1}))).
The blocks, down and up operators are the reference UNet's (src/models/blocks.py), so the two networks differ
only in their skip pathways: at depth 1 they are the same network.

Deep supervision puts a head on each of X^{0,1} ... X^{0,depth}. X^{0,L} needs only the nodes with i + j <= L,
which is what pruned inference computes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from src.core.errors import ConfigError
from src.models.blocks import ConvBlock, Down, Up, pad_to_multiple
from src.models.unet_family import UNetFamily

DS_MODES = ("accurate", "fast")


def node_name(i: int, j: int) -> str:
    """The ModuleDict key of node X^{i,j}."""
    return f"x_{i}_{j}"


def check_nested_args(
    depth: int,
    deep_supervision: bool,
    ds_mode: str,
    ds_weights: Sequence[float] | None,
    prune_level: int | None,
) -> None:
    """Reject UNet++ settings that cannot work, naming the config key at fault."""
    if not isinstance(deep_supervision, bool):
        raise ConfigError(f"model.net.deep_supervision must be true or false, got {deep_supervision!r}")
    if ds_mode not in DS_MODES:
        raise ConfigError(f"model.net.ds_mode must be one of {', '.join(DS_MODES)}; got {ds_mode!r}")
    if deep_supervision and ds_weights is not None:
        weights = list(ds_weights)
        if len(weights) != depth or any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ConfigError(
                f"model.net.ds_weights must be {depth} non-negative numbers, one per head X^{{0,1}}..X^{{0,{depth}}}"
                f" (model.net.depth={depth}), with a positive sum; got {weights}"
            )
    if prune_level is None:
        return
    if isinstance(prune_level, bool) or not isinstance(prune_level, int) or not 1 <= prune_level <= depth:
        raise ConfigError(
            f"model.net.prune_level must be null or an integer from 1 to model.net.depth={depth}; got {prune_level!r}"
        )
    if prune_level < depth and not deep_supervision:
        raise ConfigError(
            f"model.net.prune_level={prune_level} needs model.net.deep_supervision=true: without it only"
            f" X^{{0,{depth}}} has a head, so there is nothing trained to prune to"
        )


class NestedNode(nn.Module):
    """X^{i,j}, j >= 1: a conv block over the earlier nodes at its depth and the upsampled node below."""

    def __init__(self, width: int, j: int, dropout: tuple[float, float], dropout_mode: str = "element") -> None:
        super().__init__()
        self.up = Up(2 * width)  # X^{i+1,j-1} has twice the width; Up halves it
        self.block = ConvBlock((j + 1) * width, width, dropout, dropout_mode)  # j same-depth maps + the upsampled one

    def forward(self, same_depth: Sequence[torch.Tensor], below: torch.Tensor) -> torch.Tensor:
        return self.block(self.up(below, *same_depth))


class NestedUNet(UNetFamily):
    """UNet++ with optional deep supervision and pruned inference; the reference UNet's settings and blocks.

    Takes `UNetFamily`'s settings (in_channels, num_classes, base_channels, depth, dropout, head_channels,
    dropout_mode) and, by keyword, its own: deep_supervision, ds_mode, ds_weights, prune_level.

    Outputs logits of shape (N, num_classes, H, W) for any input size (padded to a multiple of 2**depth, then
    cropped back), except in training with deep supervision, where it returns one logits tensor per head
    (X^{0,1} first) for the loss to weight by `head_weights`.

    In eval mode with deep supervision, `ds_mode="fast"` uses the last head; "accurate" averages all heads'
    probabilities, unweighted as in the paper (the output is the log of that mean: log-probabilities, which
    cross-entropy and argmax take as logits). `prune_level=L` computes only the nodes X^{0,L} needs and returns its
    head, whatever `ds_mode` says: a pruned network has one head. Training always trains the whole network,
    so one checkpoint serves every prune level; `ds_mode` and `prune_level` may be changed on a trained net.
    """

    def __init__(
        self,
        *args: Any,
        deep_supervision: bool = False,
        ds_mode: str = "fast",
        ds_weights: Sequence[float] | None = None,
        prune_level: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        depth, widths, dropout, dropout_mode = self.depth, self.widths, self.arch["dropout"], self.arch["dropout_mode"]
        check_nested_args(depth, deep_supervision, ds_mode, ds_weights, prune_level)
        self.deep_supervision = deep_supervision
        self._ds_mode, self._prune_level = ds_mode, prune_level

        self.nodes = nn.ModuleDict({node_name(0, 0): self.conv_block(self.arch["in_channels"], widths[0])})
        for i in range(1, depth + 1):
            self.nodes[node_name(i, 0)] = nn.Sequential(Down(widths[i - 1]), self.conv_block(widths[i - 1], widths[i]))
        for j in range(1, depth + 1):
            for i in range(depth - j + 1):
                self.nodes[node_name(i, j)] = NestedNode(widths[i], j, dropout, dropout_mode)

        self.head_levels = list(range(1, depth + 1)) if deep_supervision else [depth]
        self.heads = nn.ModuleDict({node_name(0, j): self.classifier_head() for j in self.head_levels})
        weights = [float(w) for w in ds_weights] if ds_weights is not None else [1.0] * len(self.head_levels)
        self.head_weights = [w / sum(weights) for w in weights] if deep_supervision else [1.0]
        self.register_load_state_dict_pre_hook(check_heads_match)

    @property
    def ds_mode(self) -> str:
        """How eval mode reads the deep-supervision heads: "fast" (the last) or "accurate" (mean of all)."""
        return self._ds_mode

    @ds_mode.setter
    def ds_mode(self, mode: str) -> None:
        check_nested_args(self.depth, self.deep_supervision, mode, None, self._prune_level)
        self._ds_mode = mode

    @property
    def prune_level(self) -> int | None:
        """L: eval mode computes only what X^{0,L} needs and returns its head; None: the whole network."""
        return self._prune_level

    @prune_level.setter
    def prune_level(self, level: int | None) -> None:
        check_nested_args(self.depth, self.deep_supervision, self._ds_mode, None, level)
        self._prune_level = level

    @property
    def inference_levels(self) -> list[int]:
        """The heads an eval-mode forward reads: one when pruned or fast, all of them when accurate."""
        if self.prune_level is not None:
            return [self.prune_level]
        if self.deep_supervision and self.ds_mode == "accurate":
            return self.head_levels
        return [self.depth]

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        if self.training:
            outputs = self.head_logits(x, self.head_levels)
            return outputs if self.deep_supervision else outputs[0]
        return self.merge_heads(self.head_logits(x, self.inference_levels))

    def head_logits(self, x: torch.Tensor, levels: Sequence[int]) -> list[torch.Tensor]:
        """Logits of the heads on X^{0,L} for each L in `levels`, computing only the nodes those need."""
        x, (h, w) = pad_to_multiple(x, self.pad_multiple)
        features = self.node_features(x, max(levels))
        return [self.heads[node_name(0, j)](features[0, j])[..., :h, :w] for j in levels]

    def node_features(self, x: torch.Tensor, level: int) -> dict[tuple[int, int], torch.Tensor]:
        """Every X^{i,j} with i + j <= level, in the order they become computable (one anti-diagonal at a time)."""
        features: dict[tuple[int, int], torch.Tensor] = {}
        for s in range(level + 1):
            features[s, 0] = self.nodes[node_name(s, 0)](x if s == 0 else features[s - 1, 0])
            for j in range(1, s + 1):
                i = s - j
                same_depth = [features[i, k] for k in range(j)]
                features[i, j] = self.nodes[node_name(i, j)](same_depth, features[i + 1, j - 1])
        return features

    def merge_heads(self, outputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """One prediction from several heads' logits: the log of their mean softmax (a single head as is)."""
        if len(outputs) == 1:
            return outputs[0]
        # Softmax over the last dim of an NHWC view: no copy for channels_last logits, ~3x faster on CPU than dim 1.
        probs = sum(z.permute(0, 2, 3, 1).softmax(-1, dtype=torch.float32) for z in outputs) / len(outputs)
        return probs.clamp_min(torch.finfo(torch.float32).tiny).log().permute(0, 3, 1, 2)

    def predict_from_heads(self, outputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """What eval mode would predict, from the per-head logits a deep-supervision training forward returns."""
        return self.merge_heads([outputs[self.head_levels.index(j)] for j in self.inference_levels])

    def pruned(self, level: int) -> NestedUNet:
        """A standalone UNet++ holding only what X^{0,level} needs, with this network's weights: the model to ship.

        It is a depth-`level` UNet++ with one head (on X^{0,level}) that pads inputs as this network does, so
        its output equals this network's `prune_level=level` output for any input size.
        """
        check_nested_args(self.depth, self.deep_supervision, self.ds_mode, None, level)
        weight = next(self.parameters())
        small = NestedUNet(**(self.arch | {"depth": level})).to(device=weight.device, dtype=weight.dtype)
        small.load_state_dict({k: v for k, v in self.state_dict().items() if k in small.state_dict()})
        small.pad_multiple = self.pad_multiple
        return small.train(self.training)


def check_heads_match(module: NestedUNet, state_dict: dict, prefix: str, *args: object) -> None:
    """Loading hook: a checkpoint trained with(out) deep supervision says so, rather than listing odd keys."""
    found = sorted({k[len(prefix) :].split(".")[1] for k in state_dict if k.startswith(f"{prefix}heads.")})
    expected = sorted(module.heads)
    if found and found != expected:
        raise ConfigError(
            f"the checkpoint's UNet++ has heads {', '.join(found)} but this one has {', '.join(expected)}: set"
            " model.net.deep_supervision and model.net.depth as it was trained (a head on each X^{0,j} means"
            " deep_supervision=true)"
        )
