"""UNet / UNet++ semantic segmentation on Cityscapes-like street scenes, driven by Lightning and Hydra."""

from src.config_resolvers import register_resolvers

register_resolvers()  # before any config is composed: the data configs use them
