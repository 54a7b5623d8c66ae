"""Datasets, transforms and the LightningDataModule."""
