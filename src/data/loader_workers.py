"""How many DataLoader worker processes a run gets: a number from config, or `auto` chosen for the machine."""

from __future__ import annotations

import os

from src.core.errors import ConfigError

MAX_AUTO_WORKERS = 8  # more rarely helps at 128x256 and each worker holds its own copy of the pipeline


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which containers and SLURM set), not all the machine's."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check_workers(num_workers: int | str) -> None:
    if num_workers != "auto" and not (isinstance(num_workers, int) and not isinstance(num_workers, bool)):
        raise ConfigError(f"data.num_workers must be a number >= 0 or auto; got {num_workers!r}")
    if isinstance(num_workers, int) and num_workers < 0:
        raise ConfigError(f"data.num_workers must be a number >= 0 or auto; got {num_workers}")


def loader_workers(num_workers: int | str, device_type: str, cached: bool, processes_per_node: int = 1) -> int:
    """Worker processes for one process's DataLoader.

    `auto`: none when training on the CPU from the cache (flip + jitter + normalise of a cached 128x256 image take
    ~0.1 ms, a CPU training step ~50 ms per image, and workers would take cores from the step: measured 11% more
    img/s with none on a 2-core machine); otherwise the CPUs this node gives each process, less one for the
    process itself, between 1 and MAX_AUTO_WORKERS (decoding files, or keeping a GPU fed).
    """
    check_workers(num_workers)
    if num_workers != "auto":
        return num_workers
    if device_type == "cpu" and cached:
        return 0
    return max(1, min(MAX_AUTO_WORKERS, usable_cpus() // max(1, processes_per_node) - 1))


def cache_workers(num_workers: int | str) -> int:
    """Processes that build a cache: every usable CPU with `auto` (nothing else runs yet), else as configured."""
    check_workers(num_workers)
    return usable_cpus() if num_workers == "auto" else num_workers
