"""Whether a SLURM partition can ever give what the launcher is about to ask for, and one line when it cannot.

Checked before submitting because a cluster that does not enforce partition limits accepts such a job and leaves
it pending for ever (reason "PartitionConfig"); sbatch's own refusals are turned into the same kind of line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

from omegaconf import OmegaConf

from src.core.errors import ConfigError

MAX_CPUS_PER_TASK = 8  # the launcher's default cpus_per_task never asks for more than this
ASKED = ("partition", "nodes", "tasks_per_node", "cpus_per_task", "gpus_per_node", "mem_gb", "timeout_min")
HINT = "hydra.launcher.<key>=... changes one; `sinfo -o '%P %D %c %m %G'` shows what the partitions have"


@dataclass(frozen=True)
class NodeKind:
    """One line of `sinfo`: `count` nodes with these CPUs, memory (MB) and GPUs each."""

    count: int
    cpus: int
    memory_mb: int
    gpus: int


def _number(text: str) -> int:
    match = re.match(r"\d+", text.strip())
    return int(match.group()) if match else 0


def gpus_in_gres(gres: str) -> int:
    """GPUs per node in sinfo's %G field, e.g. `gpu:4`, `gpu:a100:8(S:0-1)`, `(null)`."""
    return sum(int(m.group(1)) for m in re.finditer(r"gpu(?::[\w.-]+)?:(\d+)", gres))


def default_partition() -> str | None:
    """The partition sbatch uses when none is given (sinfo marks it with `*`), or None if sinfo cannot say."""
    try:
        out = subprocess.run(["sinfo", "--noheader", "--format=%P"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return next((line.strip()[:-1] for line in out.stdout.splitlines() if line.strip().endswith("*")), None)


def partition_nodes(partition: str | None) -> list[NodeKind]:
    """The kinds of node of `partition` (None: the default one) as sinfo reports them; [] if sinfo cannot say."""
    if shutil.which("sinfo") is None:
        return []
    partition = partition or default_partition()
    if not partition:
        return []
    cmd = ["sinfo", "--noheader", "--format=%D|%c|%m|%G", "--partition", str(partition)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    kinds = []
    for line in out.splitlines():
        fields = line.split("|")
        if len(fields) == 4:
            kinds.append(NodeKind(_number(fields[0]), _number(fields[1]), _number(fields[2]), gpus_in_gres(fields[3])))
    return kinds


def cpus_per_task(partition: str | None, tasks_per_node: int) -> int:
    """The CPUs of the partition's smallest node shared by a job's tasks, 1 to MAX_CPUS_PER_TASK; 1 when sinfo
    cannot say (no SLURM client here: the launcher then says so)."""
    nodes = partition_nodes(partition)
    if not nodes:
        return 1
    return max(1, min(MAX_CPUS_PER_TASK, min(n.cpus for n in nodes) // max(int(tasks_per_node), 1)))


ALLOCATION_KEYS = ("trainer", "trainer.devices", "trainer.gpus", "trainer.num_nodes", "trainer.accelerator")


def swept_allocation(job_overrides: list[list[str]]) -> list[str]:
    """Allocation keys whose value is not the same in every job: the launcher resolves one allocation for all."""
    per_job = []
    for overrides in job_overrides:
        pairs = (o.partition("=") for o in overrides)
        per_job.append({k.lstrip("+~"): v for k, _, v in pairs if k.lstrip("+~") in ALLOCATION_KEYS})
    return sorted(k for k in set().union(*per_job) if len({job.get(k) for job in per_job}) > 1)


def asked(params: dict[str, Any]) -> str:
    return ", ".join(f"{key}={params.get(key)}" for key in ASKED)


def allocation_problem(params: dict[str, Any], nodes: list[NodeKind]) -> str | None:
    """Why no `nodes` of the partition can hold one job of `params` (hydra.launcher's values), or None if some can."""
    if not nodes:
        return None  # nothing known: let sbatch decide
    cpus = int(params.get("tasks_per_node") or 1) * int(params.get("cpus_per_task") or 1)
    gpus = int(params.get("gpus_per_node") or 0)
    memory_mb = int(float(params.get("mem_gb") or 0) * 1024)
    fitting = [n for n in nodes if n.cpus >= cpus and n.gpus >= gpus and n.memory_mb >= memory_mb]
    if sum(n.count for n in fitting) >= int(params.get("nodes") or 1):
        return None
    biggest = max(nodes, key=lambda n: (n.cpus, n.gpus, n.memory_mb))
    wanted = [f"{params.get('tasks_per_node') or 1} tasks x {params.get('cpus_per_task') or 1} CPUs = {cpus} CPUs"]
    wanted += [f"{gpus} GPUs"] * bool(gpus) + [f"{memory_mb} MB memory"] * bool(memory_mb)
    where = f"partition {params['partition']}" if params.get("partition") else "the default partition"
    return (
        f"SlurmError: {where} has no {params.get('nodes') or 1} node(s) with {', '.join(wanted)}; its largest node has"
        f" {biggest.cpus} CPUs, {biggest.gpus} GPUs, {biggest.memory_mb} MB; asked for {asked(params)} ({HINT})"
    )


def refusal_line(error: BaseException, params: dict[str, Any]) -> str:
    """sbatch's refusal (its last error line) and what was asked, as one line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    reason = next((line for line in reversed(lines) if "error" in line.lower()), lines[-1] if lines else repr(error))
    return f"SlurmError: sbatch refused the jobs: {reason}; asked for {asked(params)} ({HINT})"


def slurm_tasks_per_node(devices: Any, gpus: int | None) -> int:
    """One SLURM task per Lightning process: trainer.gpus if set, else trainer.devices (a number or a list)."""
    if gpus is not None:
        return max(int(gpus), 1)
    if isinstance(devices, int) and devices > 0:
        return devices
    if isinstance(devices, (list, tuple)) or OmegaConf.is_list(devices):
        return len(devices)
    raise ConfigError(
        f"hydra/launcher=submitit_slurm: trainer.devices={devices!r} does not say how many processes a node runs;"
        " give a number (e.g. trainer.devices=2) or trainer.gpus=N"
    )


def slurm_gpus_per_node(accelerator: str, devices: Any, gpus: int | None) -> int | None:
    """GPUs to ask SLURM for: one per task with a GPU accelerator, none on the CPU (nor with `auto`, which
    cannot know what the compute nodes have: use trainer=gpu, trainer=ddp or trainer.gpus=N for GPU jobs)."""
    if gpus is not None:
        return int(gpus) or None
    if str(accelerator) in ("gpu", "cuda"):
        return slurm_tasks_per_node(devices, None)
    return None


def register_slurm_resolvers() -> None:
    """`${slurm_tasks_per_node:...}`, `${slurm_gpus_per_node:...}`, `${slurm_cpus_per_task:...}` for
    conf/hydra/launcher/submitit_slurm.yaml; safe to call more than once."""
    OmegaConf.register_new_resolver("slurm_tasks_per_node", slurm_tasks_per_node, replace=True)
    OmegaConf.register_new_resolver("slurm_gpus_per_node", slurm_gpus_per_node, replace=True)
    OmegaConf.register_new_resolver("slurm_cpus_per_task", cpus_per_task, replace=True, use_cache=True)
