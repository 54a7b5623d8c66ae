"""hydra-optuna-sweeper's sweeper, continuing a stored study instead of starting its trial count again.

With `hydra.sweeper.storage` (e.g. sqlite:///optuna.db), the plugin reloads the study but then runs n_trials
*more* trials, and numbers their job folders from 0 again. Here n_trials is the study's total: a sweep killed
after 2 of 4 trials runs the 2 missing ones when the command is run again, in job folders numbered after the
study's trials (with resume=true, in the same sweep folder), with the sampler reseeded so that they differ
from the first run's. Trials that were running when the sweep was killed
stay as they are in the study (another process may be running them) and are not counted as done.
"""

from __future__ import annotations

import logging
from typing import Any

from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper

log = logging.getLogger(__name__)


class ResumableOptunaSweeper(OptunaSweeper):
    """OptunaSweeper whose `n_trials` counts the finished trials already in `storage`'s study."""

    def sweep(self, arguments: list[str]) -> Any:
        import optuna
        from optuna.trial import TrialState

        impl = self.sweeper
        if impl.storage:
            try:
                trials = optuna.load_study(study_name=impl.study_name, storage=impl.storage).get_trials(deepcopy=False)
            except KeyError:  # no such study yet: a first run
                trials = []
            done = sum(t.state in (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED) for t in trials)
            if trials:
                # The sampler's seed would replay the first run's random trials: draw new ones (not reproducible,
                # as no continuation of a killed sweep is).
                if hasattr(impl.sampler, "reseed_rng"):
                    impl.sampler.reseed_rng()
                log.info(
                    f"Study {impl.study_name}: {done} of {impl.n_trials} trials done in {impl.storage};"
                    f" running {max(impl.n_trials - done, 0)} more"
                )
            impl.n_trials = max(impl.n_trials - done, 0)
            impl.job_idx = len(trials)  # trial n runs in job folder n: no folder of an earlier trial is reused
        return super().sweep(arguments)
