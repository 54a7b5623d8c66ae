"""Timing work on a device: wait for it before reading the clock, interleave what is compared, and measure this
machine's dense matmul rate, the yardstick for the FLOP/s a network achieves."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def sync(device: torch.device) -> None:
    """Wait for the device, so a timestamp means the work before it is done (a no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_batches(
    nets: dict[str, Callable[[torch.Tensor], object]], batch: torch.Tensor, rounds: int, warmup: int
) -> dict[str, list[float]]:
    """Seconds per batch for each net, one batch per net per round, so slow drifts of the machine hit all alike."""
    seconds: dict[str, list[float]] = {name: [] for name in nets}
    with torch.inference_mode():
        for r in range(warmup + rounds):
            for name, net in nets.items():
                sync(batch.device)
                start = time.perf_counter()
                net(batch)
                sync(batch.device)
                if r >= warmup:
                    seconds[name].append(time.perf_counter() - start)
    return seconds


def matmul_gflops(n: int, device: torch.device, dtype: torch.dtype = torch.float32, repeats: int = 5) -> float:
    """This machine's dense matmul rate: the best of `repeats` n x n products, in GFLOP/s."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9
