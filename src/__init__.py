"""UNet / UNet++ semantic segmentation on Cityscapes-like street scenes, driven by Lightning and Hydra."""
