"""hydra-submitit-launcher's SLURM launcher, refusing in one line what the cluster cannot run.

`hydra/launcher=submitit_slurm` uses it (conf/hydra/launcher/submitit_slurm.yaml). An allocation no node of the
partition can hold (src/slurm_allocation.py), an sbatch refusal or no SLURM client at all ends the command with
status 1 before any job runs, naming what was asked. A job's own failure still comes back as its JobReturn.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from hydra.core.utils import JobReturn
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as SubmititSlurmLauncher

from src.slurm_allocation import allocation_problem, partition_nodes, refusal_line

log = logging.getLogger(__name__)


class SlurmLauncher(SubmititSlurmLauncher):
    """Submits each job of a sweep as a SLURM job (an array), one task per Lightning process."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from submitit.core.utils import FailedJobError

        problem = allocation_problem(self.params, partition_nodes(self.params.get("partition")))
        if problem:
            log.error(problem)
            sys.exit(1)
        try:
            return super().launch(job_overrides, initial_job_idx)
        except FileNotFoundError as err:  # no sbatch here
            log.error(
                f"SlurmError: {err.filename or 'sbatch'} not found: hydra/launcher=submitit_slurm needs a SLURM client"
                " (a cluster's login node; scripts/local_slurm.sh up starts a one-node cluster on this machine)"
            )
            sys.exit(1)
        except FailedJobError as err:  # raised while submitting
            log.error(refusal_line(err, self.params))
            sys.exit(1)
