"""Hydra sweeps: resuming them, their summary, the SLURM allocation check, and the report over their jobs."""
