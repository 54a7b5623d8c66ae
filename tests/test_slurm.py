"""The SLURM path against a live single-node cluster (scripts/local_slurm.sh): real sbatch, real jobs, no mocks.

.ci/run starts the cluster before the suite; the fixture starts it if it is down and fails, saying why, if it
cannot. Every job runs with the callbacks and loggers a user has (progress bar and model summary included).
The tests without the `slurm_cluster` fixture need no cluster.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from src.sweeps.slurm_allocation import NodeKind, allocation_problem, gpus_in_gres, swept_allocation
from tests.helpers import ROOT, TINY, run_in_process, run_module, with_user_callbacks

SCRIPT = ROOT / "scripts" / "local_slurm.sh"
PARTITION = "debug"
SLURM = ["hydra/launcher=submitit_slurm", f"hydra.launcher.partition={PARTITION}"]
# Small jobs with the user's callbacks; the synthetic scenes at 64x128.
JOB = [*with_user_callbacks(TINY), "trainer.limit_val_batches=null", "trainer.limit_test_batches=null"]


@pytest.fixture(scope="session")
def slurm_cluster() -> str:
    """The partition of the live local cluster, started (idempotently) if it is not up."""
    if subprocess.run(["bash", SCRIPT, "status"], capture_output=True).returncode != 0:
        up = subprocess.run(["bash", SCRIPT, "up"], capture_output=True, text=True, timeout=900)
        if up.returncode != 0:
            pytest.fail(f"no SLURM cluster: `bash scripts/local_slurm.sh up` failed: {up.stderr.strip()[-800:]}")
    return PARTITION


def compose_slurm(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize(version_base="1.3", config_path="../conf"):
        return compose(config_name="train.yaml", overrides=[*SLURM, *overrides], return_hydra_config=True)


def only_sweep(log_dir: Path) -> Path:
    (sweep,) = (log_dir / "multirun").glob("*/*")
    return sweep


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the sweep ended (status {proc.returncode}) before {what}: {proc.stderr.read()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(0.5)


def squeue_of(job_ids: list[str], *fields: str) -> list[list[str]]:
    """squeue's `fields` for these jobs only (other users' or tests' jobs may be queued too)."""
    cmd = ["squeue", "--noheader", "--jobs", ",".join(job_ids), "--format=" + "|".join(fields)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    return [line.split("|") for line in out.stdout.splitlines() if line.strip()]


def sweep_job_ids(log_dir: Path) -> list[str]:
    """The SLURM ids of the jobs a sweep under `log_dir` submitted (`<array>_<task>`, or `<job>` for a sweep of one
    job), from the folders where submitit keeps each job's pickled call."""
    return sorted(p.parent.name for p in log_dir.glob("multirun/*/*/.submitit/*/*_submitted.pkl"))


def release_requeued_jobs(job_ids: list[str]) -> None:
    """SLURM holds a requeued batch job for about 2 minutes (reason BeginTime); let it start now instead."""
    for job_id in job_ids:
        subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=True, capture_output=True)


def start_sweep(args: list[str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "src.train", "-m", *args]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def slurm_logs(sweep: Path) -> str:
    return "".join(p.read_text() for p in sorted(sweep.glob(".submitit/*/*_log.err")))


def test_the_preset_follows_the_trainer():
    ddp_cpu = compose_slurm(["trainer=ddp_cpu"]).hydra.launcher
    assert (ddp_cpu.nodes, ddp_cpu.tasks_per_node, ddp_cpu.gpus_per_node) == (1, 2, None)  # no GPUs on the CPU
    gpu = compose_slurm(["trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2", "hydra.launcher.timeout_min=720"])
    launcher = gpu.hydra.launcher
    assert launcher._target_ == "hydra_plugins.streetseg_plugins.slurm_launcher.SlurmLauncher"
    assert (launcher.nodes, launcher.tasks_per_node, launcher.gpus_per_node, launcher.timeout_min) == (2, 4, 4, 720)
    shorthand = compose_slurm(["trainer.gpus=3"]).hydra.launcher
    assert (shorthand.tasks_per_node, shorthand.gpus_per_node) == (3, 3)
    assert compose_slurm([]).hydra.launcher.gpus_per_node is None  # accelerator=auto asks for no GPUs


@pytest.mark.slow
def test_cpus_per_task_shares_the_partitions_node_among_the_tasks(slurm_cluster):
    node_cpus = int(
        subprocess.run(["sinfo", "-h", "-p", slurm_cluster, "-o", "%c"], capture_output=True, text=True).stdout
    )
    assert compose_slurm(["trainer=ddp_cpu"]).hydra.launcher.cpus_per_task == max(1, min(8, node_cpus // 2))
    assert compose_slurm(["trainer=cpu"]).hydra.launcher.cpus_per_task == max(1, min(8, node_cpus))


def test_what_no_node_can_hold_is_named_before_submitting():
    nodes = [
        NodeKind(count=4, cpus=32, memory_mb=256_000, gpus=4),
        NodeKind(count=1, cpus=64, memory_mb=512_000, gpus=0),
    ]
    fits = {"partition": "gpu", "nodes": 4, "tasks_per_node": 4, "cpus_per_task": 8, "gpus_per_node": 4}
    assert allocation_problem(fits, nodes) is None
    assert allocation_problem(fits, []) is None  # sinfo said nothing: sbatch decides
    too_many_nodes = allocation_problem(fits | {"nodes": 5}, nodes)
    assert too_many_nodes.startswith("SlurmError: partition gpu has no 5 node(s) with 4 tasks x 8 CPUs = 32 CPUs")
    assert "4 GPUs" in too_many_nodes and "its largest node has 64 CPUs, 0 GPUs, 512000 MB" in too_many_nodes
    assert "with 4 tasks x 8 CPUs = 32 CPUs, 4 GPUs, 307200 MB memory;" in allocation_problem(
        fits | {"mem_gb": 300}, nodes
    )
    assert allocation_problem(fits | {"nodes": 1, "gpus_per_node": 0, "cpus_per_task": 16}, nodes) is None  # the 64
    assert (gpus_in_gres("gpu:4"), gpus_in_gres("gpu:a100:8(S:0-1)"), gpus_in_gres("(null)")) == (4, 8, 0)
    grid = [["trainer=ddp_cpu", "model=unet"], ["trainer=ddp_cpu", "model=unetpp"]]
    assert swept_allocation(grid) == []
    assert swept_allocation([["trainer.devices=1"], ["trainer.devices=2"], []]) == ["trainer.devices"]


@pytest.mark.slow
def test_without_a_slurm_client_the_launcher_says_so_in_one_line(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"  # a PATH without sbatch, srun or sinfo
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    proc = run_in_process("src.train", ["-m", *SLURM, "trainer=ddp_cpu", f"paths.log_dir={tmp_path}"])
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    assert "SlurmError: sbatch and srun not found: hydra/launcher=submitit_slurm needs a SLURM client" in proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        # What no node can hold (memory and GPUs take the same path: test_what_no_node_can_hold_...).
        (["hydra.launcher.cpus_per_task=64"], "SlurmError: partition debug has no 1 node(s) with 2 tasks x 64 CPUs"),
        (["hydra.launcher.partition=nowhere"], "SlurmError: sbatch refused the jobs: sbatch: error: Batch job"),
        (["trainer.devices=1,2"], "SlurmError: the jobs sweep trainer.devices, but one SLURM allocation"),
    ],
    ids=["cpus", "partition", "swept-devices"],
)
def test_an_allocation_the_cluster_cannot_give_ends_in_one_line(slurm_cluster, tmp_path, overrides, expected):
    args = ["-m", *SLURM, "trainer=ddp_cpu", "model=unet,unetpp", *overrides, f"paths.log_dir={tmp_path}"]
    # sbatch's refusal through a real `python -m src.train -m`; the refusals made before sbatch, in this process.
    proc = (
        run_module("src.train", args, timeout=120)
        if overrides == ["hydra.launcher.partition=nowhere"]
        else run_in_process("src.train", args)
    )
    assert proc.returncode == 1
    assert expected in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not sweep_job_ids(tmp_path)  # nothing was submitted


@pytest.mark.slow
def test_a_two_job_ddp_grid_on_slurm_finishes_and_scores_as_one_process_does(slurm_cluster, tmp_path, data_cache):
    started = time.monotonic()
    args = [*SLURM, *JOB, "trainer=ddp_cpu", "model=unet,unetpp", "trainer.max_epochs=1"]
    proc = run_module("src.train", ["-m", *args, f"paths.data_dir={data_cache}", f"paths.log_dir={tmp_path}"], 600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(f"2-job DDP sweep on SLURM: {time.monotonic() - started:.0f} s")  # README "Scaling out" quotes it
    sweep = only_sweep(tmp_path)
    rows = json.loads((sweep / "summary.json").read_text())
    assert [(r["job"], r["status"], r["swept"]) for r in rows] == [
        ("0", "done", "model=unet"),
        ("1", "done", "model=unetpp"),
    ]
    logs = slurm_logs(sweep)
    assert logs.count("MEMBER: 2/2") == 2 and logs.count("MEMBER: 1/2") == 2  # each job: 2 SLURM tasks, 2 ranks
    for job in ("0", "1"):
        metrics = json.loads((sweep / job / "metrics.json").read_text())  # one file, one folder per job
        assert 0 <= metrics["test"]["test/miou"] <= 1 and (sweep / job / "checkpoints" / "last.ckpt").is_file()
        assert (
            json.loads((sweep / job / "job.json").read_text())["return_value"] == metrics["best_val"]["val/miou_best"]
        )
    assert not list(sweep.glob("*/*/.hydra"))  # no task wrote a run folder of its own

    # The checkpoint the 2-task job tested, scored again by one process: the same confusion matrix.
    tested = json.loads((sweep / "0" / "metrics.json").read_text())
    single = tmp_path / "single"
    one = [*JOB, "train=false", f"ckpt_path={tested['tested_checkpoint']}", f"paths.data_dir={data_cache}"]
    proc = run_module("src.train", [*one, f"hydra.run.dir={single}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    again = json.loads((single / "metrics.json").read_text())["test"]
    for key in ("test/acc", "test/miou"):
        assert again[key] == pytest.approx(tested["test"][key], abs=1e-6)


@pytest.mark.slow
def test_a_job_warned_of_its_time_limit_saves_requeues_and_finishes_its_epochs(slurm_cluster, tmp_path, data_cache):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    # 5 epochs of 24 steps per rank at 128x256: long enough that the warning lands mid-run.
    args = [*SLURM, *JOB, "trainer=ddp_cpu", "trainer.max_epochs=5", "trainer.limit_train_batches=null"]
    args += ["data.sizes.train=48", "data.size=[128,256]", "data.batch_size=1", "model.net.depth=3"]
    sweep_proc = start_sweep([*args, f"paths.data_dir={data_cache}", f"paths.log_dir={tmp_path}"])
    try:
        wait_for(
            lambda: list(tmp_path.glob("multirun/*/*/0/checkpoints/last.ckpt")), 180, "epoch 0's last.ckpt", sweep_proc
        )
        (job_id,) = sweep_job_ids(tmp_path)
        # What SLURM sends hydra.launcher.signal_delay_s before the time limit (submitit asks for USR2).
        subprocess.run(["scancel", "--signal=USR2", job_id], check=True)
        requeued = [["BeginTime"]]
        wait_for(lambda: squeue_of([job_id], "%r") == requeued, 60, "the job to be requeued", sweep_proc)
        release_requeued_jobs([job_id])
        _, err = sweep_proc.communicate(timeout=300)
    finally:
        if sweep_proc.poll() is None:
            sweep_proc.kill()
    assert sweep_proc.returncode == 0, err[-3000:]
    sweep = only_sweep(tmp_path)
    run, logs = sweep / "0", slurm_logs(sweep)
    assert "SIGUSR2: requeued SLURM job" in logs and "SIGTERM: saved" in logs
    assert f"Restoring states from the checkpoint path at {run / 'checkpoints' / 'last.ckpt'}" in logs
    assert json.loads((sweep / "summary.json").read_text())[0]["status"] == "done"
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["epochs_run"] == 5 and [h["epoch"] for h in summary["history"]] == [0, 1, 2, 3, 4]
    rows = (run / "csv" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    val_epochs = [r.split(",")[header.index("epoch")] for r in rows[1:] if r.split(",")[header.index("val/miou")]]
    assert val_epochs == ["0", "1", "2", "3", "4"]  # each epoch once, across the requeue
    steps = [e.step for e in EventAccumulator(str(run / "tensorboard")).Reload().Scalars("val/miou")]
    assert [b - a for a, b in itertools.pairwise(steps)] == [24] * 4  # one TensorBoard run whose steps continue
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert (last["epoch"], last["global_step"]) == (4, 5 * 24)  # 24 steps per rank and epoch: none lost or repeated


@pytest.mark.slow
def test_a_cancelled_sweep_resumes_without_rerunning_finished_jobs(slurm_cluster, tmp_path, data_cache):
    # One job at a time, so that job 0 finishes while job 1 runs.
    args = [*SLURM, *JOB, "model=unet,unetpp", "trainer.max_epochs=3", "hydra.launcher.array_parallelism=1"]
    args += ["trainer.limit_train_batches=null", "data.sizes.train=16", "data.batch_size=2", "data.size=[128,256]"]
    args += [f"paths.data_dir={data_cache}", f"paths.log_dir={tmp_path}"]
    sweep_proc = start_sweep(args)
    try:
        wait_for(
            lambda: list(tmp_path.glob("multirun/*/*/1/checkpoints/last.ckpt")), 240, "job 1's last.ckpt", sweep_proc
        )
    finally:
        job_ids = sweep_job_ids(tmp_path)
        subprocess.run(["scancel", *job_ids], check=False)
        sweep_proc.kill()  # the launcher dies too (a closed login session, Ctrl-C)
        sweep_proc.communicate(timeout=60)
    sweep = only_sweep(tmp_path)
    assert len(job_ids) == 2
    wait_for(lambda: not squeue_of(job_ids, "%i"), 60, "the cancelled jobs to leave the queue")
    assert (sweep / "0" / "job.json").is_file() and not (sweep / "1" / "job.json").exists()
    finished = (sweep / "0" / "metrics.json").stat().st_mtime_ns
    interrupted = torch.load(sweep / "1" / "checkpoints" / "last.ckpt", weights_only=True)["epoch"]

    proc = run_module("src.train", ["-m", *args, "resume=true"], timeout=600)  # the same command, resume=true
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert only_sweep(tmp_path) == sweep  # the same sweep folder
    assert (sweep / "0" / "metrics.json").stat().st_mtime_ns == finished  # job 0 did not run again
    assert (
        f"Restoring states from the checkpoint path at {sweep / '1' / 'checkpoints' / 'last.ckpt'}"
        in (sweep / "1" / "train.log").read_text()
    )
    assert interrupted < 2 and json.loads((sweep / "1" / "metrics.json").read_text())["epochs_run"] == 3
    rows = json.loads((sweep / "summary.json").read_text())
    assert [(r["job"], r["status"]) for r in rows] == [("0", "done"), ("1", "done")]


@pytest.mark.slow
def test_optuna_trials_run_side_by_side_as_slurm_jobs(slurm_cluster, tmp_path, data_cache):
    args = ["hparams_search=optuna", *SLURM, *JOB, "trainer.max_epochs=1", "trainer.limit_train_batches=null"]
    args += ["data.sizes.train=16", "data.batch_size=2", "hydra.launcher.cpus_per_task=1"]
    args += ["hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2", "hydra.sweeper.sampler.n_startup_trials=2"]
    sweep_proc = subprocess.Popen(
        [sys.executable, "-m", "src.train", *args, f"paths.data_dir={data_cache}", f"paths.log_dir={tmp_path}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen_running = 0
    try:
        while sweep_proc.poll() is None:
            job_ids = sweep_job_ids(tmp_path)
            states = squeue_of(job_ids, "%T") if job_ids else []
            seen_running = max(seen_running, sum(state == "RUNNING" for (state,) in states))
            time.sleep(0.5)
        _, err = sweep_proc.communicate()
    finally:
        if sweep_proc.poll() is None:
            sweep_proc.kill()
    assert sweep_proc.returncode == 0, err[-3000:]
    assert seen_running == 2  # both trials at once, as SLURM jobs
    sweep = only_sweep(tmp_path)
    best = OmegaConf.load(sweep / "optimization_results.yaml").best_value
    scores = [json.loads((sweep / j / "metrics.json").read_text())["best_val"]["val/miou_best"] for j in ("0", "1")]
    assert best == pytest.approx(max(scores))


@pytest.mark.slow
def test_the_cluster_script_is_idempotent_and_stops_only_what_it_started(slurm_cluster):
    state = Path(os.environ.get("LOCAL_SLURM_DIR", "/tmp/streetseg-slurm")) / "started.pids"
    before = state.read_text()
    up = subprocess.run(["bash", SCRIPT, "up"], capture_output=True, text=True, timeout=120)
    assert up.returncode == 0 and state.read_text() == before  # already up: nothing started again
    started = dict(line.split() for line in before.splitlines())
    bystander = subprocess.Popen(["sleep", "60"])  # a process the script did not start
    try:
        assert subprocess.run(["bash", SCRIPT, "down"], capture_output=True, timeout=120).returncode == 0
        assert all(not Path(f"/proc/{pid}").exists() for pid in started.values())
        assert bystander.poll() is None and shutil.which("sinfo")
        assert subprocess.run(["bash", SCRIPT, "status"], capture_output=True).returncode != 0
    finally:
        bystander.kill()
        again = subprocess.run(["bash", SCRIPT, "up"], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert (
        subprocess.run(["sinfo", "--noheader", "--format=%t"], capture_output=True, text=True).stdout.strip() == "idle"
    )
