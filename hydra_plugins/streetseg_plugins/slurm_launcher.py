"""hydra-submitit-launcher's SLURM launcher, refusing in one line what the cluster cannot run.

`hydra/launcher=submitit_slurm` uses it (conf/hydra/launcher/submitit_slurm.yaml). Before anything is queued, it
ends the command with status 1 and one line when there is no SLURM client, when the jobs sweep a setting that
the allocation depends on, or when no node of the partition can hold a job (src/sweeps/slurm_allocation.py); sbatch's
own refusals end the same way. Once the jobs are queued, their results and failures are submitit's and Hydra's.
"""

from __future__ import annotations

import logging
import shutil
import sys
from collections.abc import Sequence

from hydra.core.utils import JobReturn
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as SubmititSlurmLauncher

from src.sweeps.slurm_allocation import allocation_problem, partition_nodes, refusal_line, swept_allocation

log = logging.getLogger(__name__)


def refuse(line: str) -> None:
    log.error(line)
    sys.exit(1)


class SlurmLauncher(SubmititSlurmLauncher):
    """Submits each job of a sweep as a SLURM job (an array), one task per Lightning process."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from submitit.core.utils import FailedJobError

        missing = [tool for tool in ("sbatch", "srun") if shutil.which(tool) is None]
        if missing:
            refuse(
                f"SlurmError: {' and '.join(missing)} not found: hydra/launcher=submitit_slurm needs a SLURM client"
                " (a cluster's login node; scripts/local_slurm.sh up starts a one-node cluster on this machine)"
            )
        swept = swept_allocation([list(o) for o in job_overrides])
        if swept:
            refuse(
                f"SlurmError: the jobs sweep {', '.join(swept)}, but one SLURM allocation (tasks, GPUs, nodes) is"
                " resolved for the whole sweep: run one sweep per value instead"
            )
        problem = allocation_problem(self.params, partition_nodes(self.params.get("partition")))
        if problem:
            refuse(problem)
        try:
            return super().launch(job_overrides, initial_job_idx)
        except FailedJobError as err:
            if str(err).startswith("Job (task="):  # a job that ran and failed: submitit's own report
                raise
            refuse(refusal_line(err, self.params))  # sbatch refused the submission
