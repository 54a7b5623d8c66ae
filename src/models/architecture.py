"""Whether a checkpoint fits the model a config builds: the one check, for train's ckpt_path and for eval,
predict and export (`check_checkpoint_fits`), naming both sides of a mismatch.

A checkpoint loaded into the wrong config otherwise fails with torch's list of missing keys or a size mismatch;
"the checkpoint is a UNet (model=unet model.net.base_channels=8 model.net.depth=2), but this config builds a
UNet++ (...)" says what to type to load it.
Which network a set of weights belongs to is read from the weights alone, so checkpoints written before this
module existed describe themselves too. Whether the file is a readable checkpoint at all is
src/core/checkpoint_io.py's question, answered before this one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from src.core.errors import ConfigError


def describe_weights(state: Mapping[str, torch.Tensor], prefix: str = "net.") -> str:
    """'a UNet (model=unet model.net.base_channels=8 model.net.depth=2)': the overrides that build it."""
    names = [k[len(prefix) :] for k in state if k.startswith(prefix)]
    net = "model.net."  # the description is the overrides that build this network
    if f"{prefix}nodes.x_0_0.0.weight" in state:
        depth = max(int(m.group(1)) for k in names if (m := re.match(r"nodes\.x_(\d+)_0\.", k)))
        heads = {k.split(".")[1] for k in names if k.startswith("heads.")}
        width = state[f"{prefix}nodes.x_0_0.0.weight"].shape[0]
        supervision = str(len(heads) > 1).lower()
        return (
            f"a UNet++ (model=unetpp {net}base_channels={width} {net}depth={depth} {net}deep_supervision={supervision})"
        )
    if f"{prefix}stem.0.weight" in state:
        depth = len({k.split(".")[1] for k in names if k.startswith("encoders.")})
        return f"a UNet (model=unet {net}base_channels={state[f'{prefix}stem.0.weight'].shape[0]} {net}depth={depth})"
    if f"{prefix}0.weight" in state:
        convs = [k for k in names if re.fullmatch(r"\d+\.weight", k) and state[prefix + k].dim() == 4]
        width = state[f"{prefix}0.weight"].shape[0]
        return f"a colour baseline (model=colour_baseline {net}hidden_channels={width} {net}layers={len(convs) - 1})"
    return f"an unknown network ({len(names)} tensors)"


def check_checkpoint_fits(
    checkpoint: Mapping, model_state: Mapping[str, torch.Tensor], num_classes: int, what: str, config: str
) -> None:
    """One ConfigError when a Lightning checkpoint (`hyper_parameters`, `state_dict`) cannot load into the model
    `config` builds: another class count, or another network; `what` names the file, `config` the model's source."""
    check_classes_fit(checkpoint, num_classes, what)
    check_weights_fit(checkpoint.get("state_dict", {}), model_state, what, config)


def check_classes_fit(checkpoint: Mapping, num_classes: int, what: str) -> None:
    """One ConfigError when the checkpoint's saved class count is not the data's (`what` names the file)."""
    saved = checkpoint.get("hyper_parameters", {}).get("num_classes")
    if saved is not None and saved != num_classes:
        raise ConfigError(
            f"{what} was trained for {saved} classes but data.num_classes is {num_classes}; use the data it was"
            " trained on, or a checkpoint for this data"
        )


def check_weights_fit(checkpoint_state: Mapping[str, torch.Tensor], model_state: Mapping[str, torch.Tensor],
                      what: str, config: str) -> None:  # fmt: skip
    """One ConfigError naming the checkpoint's network and the config's when they differ (`what` names the file)."""
    saved, built = describe_weights(checkpoint_state), describe_weights(model_state)
    if saved != built:
        raise ConfigError(f"{what} is {saved}, but {config} builds {built}")
    for key, tensor in checkpoint_state.items():  # same family, depth and width: a head or class count differs
        if key in model_state and model_state[key].shape != tensor.shape:
            raise ConfigError(
                f"{what}: its {key} is {tuple(tensor.shape)}, but {config} builds {tuple(model_state[key].shape)}"
            )
