"""Prove the GPU path in one command: `python -m src.gpu_check` (`make gpu-check`), under 5 minutes on one GPU.

Runs, each as its own process under its own time limit (conf/gpu_check.yaml), the tests marked gpu; a short
UNet++ training with `trainer.gpus=1` that must reach a stated test mIoU; eval, predict and ONNX export of its
checkpoint; the benchmark at the reference width in bf16 and at the quickstart width with the DataLoader, with
`data.device_resident=true` and with `model.compile=true`; and `trainer.gpus=<GPUs + 1>`, which must stop with
one line. Writes gpu_check.json (the environment, each part's status, seconds, command and figures) and
gpu_check.log to outputs/gpu_check/<date>/<time>/. Without CUDA the CUDA parts say "skipped: no CUDA";
`device=cpu` rehearses the others on the CPU. Exits 1 when a part failed. The work is src/checks/'s.
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from src.checks.gpu_check import run_gpu_check
from src.cli.composition_errors import one_line_config_errors
from src.cli.exit_on_user_error import exit_on_user_error

log = logging.getLogger(__name__)


@one_line_config_errors
@hydra.main(version_base="1.3", config_path="../conf", config_name="gpu_check.yaml")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    result = run_gpu_check(cfg)
    log.info("passed: %s", ", ".join(result["passed"]) or "none")
    log.info("skipped: %s", ", ".join(result["skipped"]) or "none")
    log.info("wrote %s/gpu_check.json and gpu_check.log", cfg.paths.output_dir)
    if result["failed"]:
        log.error("failed: %s", ", ".join(result["failed"]))
        sys.exit(1)


if __name__ == "__main__":
    main()
