"""What the GPU check ran on: Python, torch and its CUDA, the GPUs and their memory, and the libraries that matter."""

from __future__ import annotations

import os
import platform
from importlib.metadata import version

import torch


def environment() -> dict:
    """The machine and software facts a GPU user needs to read the check's figures; no GPU work is done."""
    gpus = [
        {
            "name": torch.cuda.get_device_name(i),
            "memory_gib": round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1),
            "capability": ".".join(map(str, torch.cuda.get_device_capability(i))),
        }
        for i in range(torch.cuda.device_count())
    ]
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cuda": torch.version.cuda,  # the CUDA torch was built with; None: a CPU build
        "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
        "bf16_supported": torch.cuda.is_bf16_supported() if torch.cuda.is_available() else None,
        "gpus": gpus,
        "lightning": version("lightning"),
        "torchmetrics": version("torchmetrics"),
        "hydra": version("hydra-core"),
    }
