"""Training objectives for segmentation (model.loss): cross-entropy, class-weighted, Dice, CE + Dice, focal, OHEM."""
