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


def partition_nodes(partition: str | None) -> list[NodeKind]:
    """The partition's kinds of node as sinfo reports them (the default partition when None); [] if sinfo cannot say."""
    if shutil.which("sinfo") is None:
        return []
    cmd = ["sinfo", "--noheader", "--format=%D|%c|%m|%G", *(["--partition", str(partition)] if partition else [])]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout
    except subprocess.SubprocessError:
        return []
    kinds = []
    for line in out.splitlines():
        fields = line.split("|")
        if len(fields) == 4:
            kinds.append(NodeKind(_number(fields[0]), _number(fields[1]), _number(fields[2]), gpus_in_gres(fields[3])))
    return kinds


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
    where = f"partition {params['partition']}" if params.get("partition") else "the cluster"
    return (
        f"SlurmError: {where} has no {params.get('nodes') or 1} node(s) with {', '.join(wanted)}; its largest node has"
        f" {biggest.cpus} CPUs, {biggest.gpus} GPUs, {biggest.memory_mb} MB; asked for {asked(params)} ({HINT})"
    )


def refusal_line(error: BaseException, params: dict[str, Any]) -> str:
    """sbatch's refusal (its last error line) and what was asked, as one line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    reason = next((line for line in reversed(lines) if "error" in line.lower()), lines[-1] if lines else repr(error))
    return f"SlurmError: sbatch refused the jobs: {reason}; asked for {asked(params)} ({HINT})"
