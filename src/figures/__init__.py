"""Figures a person reads: training curves, calibration, confusion matrices, segmentation grids (matplotlib)."""
