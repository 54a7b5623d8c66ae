"""OmegaConf resolvers the configs use (`${len:...}`, `${cityscapes_num_classes:...}`); registered on import of src."""

from __future__ import annotations

from omegaconf import OmegaConf


def register_resolvers() -> None:
    """Make the resolvers known to OmegaConf; safe to call more than once."""
    from src.data.labels import CITYSCAPES_NUM_CLASSES

    OmegaConf.register_new_resolver("len", len, replace=True)
    # An unknown mode gives null here; the datamodule then rejects data.label_mode with one clear line.
    OmegaConf.register_new_resolver("cityscapes_num_classes", CITYSCAPES_NUM_CLASSES.get, replace=True)
