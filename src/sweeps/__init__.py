"""Hydra sweeps: their jobs read once (jobs), the summary, per-run statistics, analysis and rendering of the report,
resuming a sweep, and the SLURM allocation check."""
