"""Inside a SLURM job: on the time-limit warning or a pre-emption signal, save last.ckpt, requeue, exit.

SLURM sends the job's tasks a signal `hydra.launcher.signal_delay_s` seconds before its time limit (submitit's
USR2; `scancel --signal=USR1|USR2 <job>` sends one by hand). The handler only notes it. At the next end of a
training batch the ranks agree on it (one all-reduce; a rank may have been signalled a moment after another),
and all of them take Lightning's SIGTERM stop after that same batch: CheckpointOnSigterm writes
checkpoints/last.ckpt from rank 0, every task exits with status 143 and no result (so the sweep keeps waiting
for this job), and rank 0 requeues the job with `scontrol requeue` as its very last step (the requeue sends
SIGTERM to whatever still runs, which must no longer be inside Lightning). The requeued job runs the same Hydra
job in the same folder and resumes from that last.ckpt (src/training/fit_resume.py).

The handlers stay from the start of fit to the end of the process: a signal during validation or testing is
noted (and acted on at the next training batch, if any), never the default action that would kill the task.

Written by hand because Lightning's own SLURM auto-requeue saves inside the signal handler, with a barrier that
can meet another collective under DDP, and keeps training afterwards; submitit's requeue restarts the job without
a checkpoint. Lightning's is switched off (build_trainer passes SLURMEnvironment(auto_requeue=False)).
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import subprocess
from types import FrameType
from typing import Any

import lightning as L
from lightning import Callback
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.exceptions import SIGTERMException

from src.core.errors import ConfigError
from src.core.lightning_compat import stop_at_batch_end
from src.training.callbacks.ranks_agree import ranks_agree_to_stop
from src.training.fit_resume import slurm_restarts

log = logging.getLogger(__name__)


def slurm_job_id() -> str | None:
    """The id `scontrol requeue` takes: `<array job>_<task>` for a job array (how submitit submits), else the job."""
    array_job, array_task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array_job and array_task:
        return f"{array_job}_{array_task}"
    return os.environ.get("SLURM_JOB_ID")


def in_slurm_batch_job() -> bool:
    """True in a task of an sbatch job (what the submitit launcher runs), not in an interactive allocation."""
    return slurm_job_id() is not None and os.environ.get("SLURM_JOB_NAME") not in ("bash", "interactive")


def requeue_job(job: str, reason: str, restart: int) -> None:
    """`scontrol requeue <job>`; logged either way (a job not requeued can still be continued with resume=true)."""
    result = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, timeout=60)
    if result.returncode == 0:
        log.warning(f"{reason}: requeued SLURM job {job} (restart {restart}); it resumes from last.ckpt")
    else:
        log.error(f"{reason}: could not requeue SLURM job {job}: {result.stderr.strip()}; resume=true continues it")


class RequeueOnSlurmSignal(Callback):
    """Save, requeue and exit on `signals` (names such as USR1, USR2), in SLURM batch jobs only; inert elsewhere."""

    def __init__(
        self,
        signals: list[str] | tuple[str, ...] = ("USR1", "USR2"),
        max_requeues: int = 10,
        check_every_n_batches: int = 5,
    ) -> None:
        unknown = [name for name in signals if not hasattr(signal, f"SIG{name}")]
        if unknown:
            raise ConfigError(f"callbacks.requeue_on_slurm_signal.signals: unknown {unknown}; e.g. [USR1, USR2]")
        self.signals = [getattr(signal, f"SIG{name}") for name in signals]
        every = check_every_n_batches
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            key = "callbacks.requeue_on_slurm_signal.check_every_n_batches"
            raise ConfigError(f"{key} must be a whole number >= 1, got {every!r}")
        self.max_requeues, self.check_every_n_batches = max_requeues, check_every_n_batches
        self.batches = 0
        self.received: int | None = None  # the signal noted by the handler, not yet acted on
        self.acting_on: int | None = None  # the signal this run stops for
        self.active = False

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit" or not in_slurm_batch_job():
            return
        self.active = True
        for signum in self.signals:
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum  # only a note: acting here could meet a collective of the training step

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if not self.active:
            return
        self.batches += 1
        noted = self.received is not None
        if ranks_agree_to_stop(trainer, pl_module.device, noted, self.batches, self.check_every_n_batches):
            self.acting_on = self.received or self.signals[-1]  # a rank signalled later takes its peers' signal
            stop_at_batch_end(trainer)  # Lightning stops after this batch, like on SIGTERM

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if self.acting_on is None or not isinstance(exception, SIGTERMException):
            return
        if trainer.state.fn != TrainerFn.FITTING or not trainer.is_global_zero:
            return
        restarts = slurm_restarts()
        name = signal.Signals(self.acting_on).name
        if restarts >= self.max_requeues:
            log.warning(f"{name}: not requeued: the job was requeued {restarts} times (max_requeues)")
            return
        atexit.register(requeue_job, slurm_job_id(), name, restarts + 1)
