"""Learning-rate schedules stepped once per optimizer step, over the run's planned steps (model.scheduler).

torch has the curves (PolynomialLR is DeepLab's poly; CosineAnnealingLR), but they count steps only. Each schedule
here is one LambdaLR that adds two things: an optional linear warm-up in front (torch needs SequentialLR and a
second scheduler for that), and `budget_used`, the share of trainer.max_time spent (its clock is
src/training/callbacks/time_budget.py), which neither torch nor Lightning decays over: the decay ends at the last
planned step or when the time budget is spent, whichever comes first.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from src.core.errors import ConfigError


def _check(total_steps: int, warmup_steps: int) -> None:
    if warmup_steps < 0 or warmup_steps >= total_steps:
        raise ConfigError(
            f"model.scheduler.warmup_steps must be in [0, {total_steps}) (the run's planned steps); got {warmup_steps}"
        )


def progress(step: int, warmup_steps: int, total_steps: int, budget_used: float = 0.0) -> float:
    """How far the decay has gone: 0 at the end of the warm-up, 1 at the last planned step or once the time
    budget is spent (`budget_used`, 0..1, counts the warm-up's time too), and after."""
    return min(1.0, max(max(0, step - warmup_steps) / (total_steps - warmup_steps), budget_used))


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Linear ramp from 1/warmup_steps to 1 over the first warmup_steps steps."""
    return (step + 1) / warmup_steps if step < warmup_steps else 1.0


def _decay(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_steps: int,
    budget_used: Callable[[], float] | None,
    shape: Callable[[float], float],
) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR: the linear warm-up times shape(progress), progress led by steps or by the time budget."""
    _check(total_steps, warmup_steps)

    def factor(step: int) -> float:
        used = budget_used() if budget_used is not None else 0.0
        return warmup_factor(step, warmup_steps) * shape(progress(step, warmup_steps, total_steps, used))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def poly(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    power: float = 0.9,
    warmup_steps: int = 0,
    budget_used: Callable[[], float] | None = None,
) -> torch.optim.lr_scheduler.LambdaLR:
    """lr x (1 - progress)^power after an optional linear warm-up (DeepLab's schedule)."""
    return _decay(optimizer, total_steps, warmup_steps, budget_used, lambda done: (1 - done) ** power)


def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_steps: int = 0,
    final_fraction: float = 0.01,
    budget_used: Callable[[], float] | None = None,
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up, then cosine decay per step to final_fraction x lr."""

    def shape(done: float) -> float:
        return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * done))

    return _decay(optimizer, total_steps, warmup_steps, budget_used, shape)
