"""Segmentation metrics derived from one confusion matrix."""
