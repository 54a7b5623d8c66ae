"""A trained model back from its checkpoint, with the data settings it was trained on (eval, predict, export).

The network's architecture lives in the training run's `.hydra/config.yaml`, beside `checkpoints/`: the
checkpoint holds weights and plain hyperparameters only, so it loads with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from src.core.checkpoint_io import AtomicCheckpointIO
from src.core.errors import ConfigError
from src.core.moved_targets import with_current_targets
from src.models.architecture import check_checkpoint_fits, describe_weights
from src.training.module import SegmentationModule


@dataclass
class TrainedRun:
    """The model (eval mode, CPU) and the config it was built from, `data` replaced where asked."""

    module: SegmentationModule
    config: DictConfig  # the training run's config: data, model, paths (the current run's)
    ckpt_path: Path

    @property
    def net(self) -> torch.nn.Module:
        return self.module.net


def run_config_path(ckpt_path: Path) -> Path:
    """<run>/.hydra/config.yaml for <run>/checkpoints/<name>.ckpt."""
    return ckpt_path.parent.parent / ".hydra" / "config.yaml"


def describe_checkpoint(ckpt_path: str | None) -> str:
    """'ckpt_path=<file> is a UNet (...)', or what stands in for it when it cannot be read."""
    if not ckpt_path:
        return "ckpt_path is not given"
    try:
        state = torch.load(Path(ckpt_path).expanduser(), map_location="cpu", weights_only=True)["state_dict"]
    except Exception:  # missing or unreadable: load_trained_run reports that on its own
        return f"ckpt_path={ckpt_path} cannot be read"
    return f"ckpt_path={ckpt_path} is {describe_weights(state)}"


def model_from_checkpoint_error(ckpt_path: str | None) -> ConfigError:
    """Why `model=...` cannot change what eval, predict and export run, and what to do instead."""
    return ConfigError(
        f"model: the network is the one the checkpoint was trained as ({describe_checkpoint(ckpt_path)}), built"
        " from its run's .hydra/config.yaml; for another model, give ckpt_path a checkpoint of that model"
    )


def refuse_model_settings(cfg: DictConfig) -> None:
    """`+model=...` composes, but eval, predict and export build the checkpoint's own model: say so, not ignore it."""
    if "model" in cfg:
        raise model_from_checkpoint_error(cfg.get("ckpt_path"))


def load_trained_run(
    ckpt_path: str | None,
    paths: DictConfig,
    data: DictConfig | None = None,
    prune_level: int | None = None,
    ds_mode: str | None = None,
) -> TrainedRun:
    """Rebuild the model of `ckpt_path` from its run's config and load its weights.

    `data` replaces the run's data config (evaluate on another dataset); `prune_level` / `ds_mode` change how a
    UNet++ predicts, as `model.net.prune_level` / `model.net.ds_mode` would have.
    """
    if not ckpt_path:
        raise ConfigError("ckpt_path is required: a .ckpt file written by python -m src.train")
    path = Path(ckpt_path).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"ckpt_path={ckpt_path}: no such file ({path})")
    config_file = run_config_path(path)
    if not config_file.is_file():
        raise ConfigError(
            f"ckpt_path={ckpt_path}: the model's architecture is read from its training run's config,"
            f" <run>/.hydra/config.yaml for <run>/checkpoints/{path.name}; not found: {config_file}"
        )
    config = with_current_targets(OmegaConf.load(config_file))  # runs written before the layout moved, too
    config.paths = paths  # the run's own paths point at its output folder; data_dir etc. are this launch's
    if data is not None:
        config.data = data
    # The data config sets the class count; a checkpoint of another class count must not load silently.
    config.model.num_classes = config.model.net.num_classes = config.data.num_classes
    if "compile" in config.model:  # eval/predict/export run a few batches: compiling would cost more than it saves
        config.model.compile = False
    module: SegmentationModule = instantiate(config.model)
    checkpoint = AtomicCheckpointIO().load_checkpoint(Path(ckpt_path).expanduser())  # weights only, one-line errors
    state = checkpoint["state_dict"]
    what, source = f"ckpt_path={ckpt_path}", f"its run's config {config_file}"
    check_checkpoint_fits(checkpoint, module.state_dict(), config.data.num_classes, what, source)
    module.load_state_dict(state)
    net = module.net
    for key, value in (("prune_level", prune_level), ("ds_mode", ds_mode)):
        if value is None:
            continue
        if not hasattr(net, key):
            raise ConfigError(
                f"{key}={value} applies to UNet++ (model=unetpp); the checkpoint is a {type(net).__name__}"
            )
        setattr(net, key, value)
    return TrainedRun(module.eval(), config, path)
