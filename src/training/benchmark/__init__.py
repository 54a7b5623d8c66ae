"""`python -m src.benchmark`'s measurements: Lightning's training loop against a raw PyTorch loop of the same module,
the input pipeline, FLOPs against this machine's peak, inference speed and memory."""
