"""Let DDP runs inside a Hydra multirun start their extra processes as this job, not as the whole sweep.

Lightning's DDP launcher starts ranks > 0 by re-running `sys.argv` plus `hydra.run.dir=<hydra.run.dir>`.
In a multirun, `sys.argv` holds `-m` and every sweep value, so each extra process would launch the sweep
again, in a folder of its own. Pointing both at this job (its own overrides, its own folder) makes each extra
process a plain run of this job, writing into the job's folder.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import open_dict, read_write

# What Lightning's DDP launcher exports; left set, the next job would think its processes already exist.
LIGHTNING_DDP_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE", "PL_GLOBAL_SEED")


@contextmanager
def ddp_as_one_job() -> Iterator[None]:
    """Run a job so that DDP's extra processes re-run this job (not the sweep); afterwards tear its process group
    down and drop the LOCAL_RANK/MASTER_PORT/... variables Lightning set, so the next job launches its own."""
    argv, environ = sys.argv, {k: os.environ.get(k) for k in LIGHTNING_DDP_VARIABLES}
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        hydra_cfg = HydraConfig.get()
        # hydra.mode=RUN: an hparams_search preset sets MULTIRUN in config, which would start the sweep again.
        sys.argv = [sys.argv[0], *hydra_cfg.overrides.task, "hydra.mode=RUN"]
        with read_write(hydra_cfg), open_dict(hydra_cfg):
            hydra_cfg.run.dir = hydra_cfg.runtime.output_dir
    try:
        yield
    finally:
        sys.argv = argv
        for key, value in environ.items():  # as before the job: unset what Lightning set for it
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
