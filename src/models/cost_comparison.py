"""What UNet and UNet++ pruned at each level cost at one width: parameters, forward GFLOPs and inference time.

`python -m src.model_table` tabulates these rows on the CPU; `python -m src.benchmark` times them on its device.
"""

from __future__ import annotations

import statistics

import torch
from torch import nn

from src.core.device_timing import time_batches
from src.models.flop_count import forward_gflops
from src.models.nested_unet import NestedUNet
from src.models.unet import UNet


def compared_networks(
    num_classes: int, base_channels: int, depth: int, head_channels: int | None
) -> dict[str, tuple[nn.Module, nn.Module]]:
    """Each row's network as run, and the standalone network whose parameters it uses (a pruned UNet++ runs whole
    in deep-supervision mode, but a deployed L<n> needs only the part that feeds its head)."""
    arch = {"num_classes": num_classes, "base_channels": base_channels, "depth": depth, "head_channels": head_channels}
    unet = UNet(**arch)
    rows: dict[str, tuple[nn.Module, nn.Module]] = {"UNet": (unet, unet)}
    for level in range(1, depth + 1):
        net = NestedUNet(**arch, deep_supervision=True, prune_level=level)
        rows[f"UNet++ L{level}"] = (net, net.pruned(level))
    accurate = NestedUNet(**arch, deep_supervision=True, ds_mode="accurate")
    rows[f"UNet++ accurate ({depth} heads)"] = (accurate, accurate)
    return rows


def measure_networks(
    rows: dict[str, tuple[nn.Module, nn.Module]],
    batch: torch.Tensor,
    rounds: int,
    warmup: int,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> list[dict]:
    """One dict per row: model, parameters, gflops (forward, per image), images_per_s and seconds_per_batch.

    The networks run in eval mode on `batch`'s device in `memory_format`, timed in interleaved rounds so the
    ratios between rows are measured side by side; their FLOPs are then counted on the CPU (where they stay).
    """
    nets = {name: net.eval().to(batch.device, memory_format=memory_format) for name, (net, _) in rows.items()}
    seconds = time_batches(nets, batch, rounds, warmup)
    size = (batch.shape[-2], batch.shape[-1])
    return [
        {
            "model": name,
            "parameters": sum(p.numel() for p in own.parameters()),
            "gflops": forward_gflops(nets[name].cpu(), size),
            "images_per_s": len(batch) / statistics.median(seconds[name]),
            "seconds_per_batch": seconds[name],
        }
        for name, (_, own) in rows.items()
    ]
