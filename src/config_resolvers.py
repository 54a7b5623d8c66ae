"""OmegaConf resolvers the configs use (`${len:...}`, `${cityscapes_num_classes:...}`); registered on import of src."""

from __future__ import annotations

from omegaconf import OmegaConf


def register_resolvers() -> None:
    """Make the resolvers known to OmegaConf; safe to call more than once."""
    from src.data.labels import cityscapes_table

    OmegaConf.register_new_resolver("len", len, replace=True)
    OmegaConf.register_new_resolver(
        "cityscapes_num_classes", lambda mode: cityscapes_table(mode).num_classes, replace=True
    )
