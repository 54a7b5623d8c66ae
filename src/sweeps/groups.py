"""A sweep's jobs grouped into recipes: jobs whose overrides differ only in what varies noise (the seed).

`python -m src.train -m seed=1,2,3 model=unet,unetpp` makes six jobs and two groups, `model=unet` and
`model=unetpp`, each with three seeds; the report and the summary give each group's mean and spread, and pair
runs across groups by seed.
"""

from __future__ import annotations

from dataclasses import dataclass

from src.sweeps.jobs import Job

#: Override keys that do not change the recipe: the seed and the loader worker count change only the random
#: draw (each worker draws its own augmentation stream), and `resume` only says a job was continued from its
#: last.ckpt (a sweep resumed halfway is still one recipe per group). Jobs differing only in these group together.
NOISE_KEYS = ("seed", "data.num_workers", "resume")


def override_key(override: str) -> str:
    """`seed` of `seed=3`, `+seed=3` or `~seed`."""
    return override.partition("=")[0].lstrip("+~")


@dataclass
class Group:
    """The jobs of one recipe, in job order; `label` is the recipe's overrides that differ between groups."""

    label: str
    jobs: list[Job]

    @property
    def done(self) -> list[Job]:
        return [j for j in self.jobs if j.status == "done"]

    @property
    def failed(self) -> list[Job]:
        return [j for j in self.jobs if j.status != "done"]


def recipe(job: Job) -> tuple[str, ...]:
    """The job's overrides without the noise keys; a job without overrides.yaml is a recipe of its own."""
    if job.overrides is None:
        return (f"job {job.number}",)
    return tuple(o for o in job.overrides if override_key(o) not in NOISE_KEYS)


def group_jobs(jobs: list[Job]) -> list[Group]:
    """The groups of recipes in the order their first job ran, each labelled by what sets it apart."""
    recipes: dict[tuple[str, ...], list[Job]] = {}
    for job in jobs:
        recipes.setdefault(recipe(job), []).append(job)
    shared = set.intersection(*map(set, recipes)) if len(recipes) > 1 else set(next(iter(recipes), ()))
    # a recipe with nothing of its own is the sweep's base (an ablation's reference row), not "all jobs"
    base = "all jobs" if len(recipes) == 1 else "base (the shared overrides only)"
    return [Group(" ".join(o for o in r if o not in shared) or base, members) for r, members in recipes.items()]
