"""One answer for every DDP process to "stop after this batch?", so none leaves while another trains on.

A signal (Ctrl-C, SLURM's time-limit warning) reaches the processes of a job at about the same moment, but not
always between the same two batches; a rank that stopped alone would leave the others waiting in the next
step's collectives. Each rank only notes its signal; at a batch end every rank asks here, and all get the same
answer. Asked every `every` batches (one all-reduce then), not every step, to keep the step free of host syncs.
"""

from __future__ import annotations

import lightning as L
import torch


def ranks_agree_to_stop(trainer: L.Trainer, device: torch.device, noted: bool, batch: int, every: int) -> bool:
    """`noted` in a single process; under DDP, at every `every`-th batch, whether any rank noted a signal."""
    if trainer.world_size == 1:
        return noted
    if batch % every:
        return False
    flag = torch.tensor(float(noted), device=device)
    return bool(trainer.strategy.reduce(flag, reduce_op="max") > 0)
