"""Where the classes named by runs written before the package layout (issue 18) live now.

A run folder's `.hydra/config.yaml` names its classes by module path (`_target_: src.module.SegmentationModule`);
eval, predict and export rebuild the model and data from it, so the old paths are mapped here, in one place.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

# Old module path (or prefix, ending in a dot) -> the current one. Longest match wins.
MOVED = {
    "src.module.": "src.training.module.",
    "src.losses.": "src.training.losses.",
    "src.schedules.": "src.training.schedules.",
    "src.callbacks.": "src.training.callbacks.",
    "src.loggers.": "src.training.loggers.",
    "src.trainer_from_config.build_trainer": "src.training.trainer.build_trainer",
    "src.data.datamodule.CityscapesDataModule": "src.data.cityscapes.CityscapesDataModule",
    "src.data.datamodule.CamVidDataModule": "src.data.camvid.CamVidDataModule",
    "src.data.datamodule.FolderDataModule": "src.data.folder.FolderDataModule",
    "src.data.datamodule.SyntheticStreetsDataModule": "src.data.synthetic.SyntheticStreetsDataModule",
}


def current_target(target: str) -> str:
    """`target` as the current code names it (unchanged when it did not move)."""
    for old in sorted(MOVED, key=len, reverse=True):
        if target == old or (old.endswith(".") and target.startswith(old)):
            return MOVED[old] + target[len(old) :]
    return target


def with_current_targets(config: DictConfig) -> DictConfig:
    """A copy of a run's config whose every `_target_` names the class or function where it lives now."""

    def update(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: current_target(v) if k == "_target_" and isinstance(v, str) else update(v) for k, v in node.items()
            }
        return [update(v) for v in node] if isinstance(node, list) else node

    return OmegaConf.create(update(OmegaConf.to_container(config, resolve=False)))
