"""`python -m src.gpu_check`: on this CPU machine the CUDA parts say "skipped: no CUDA" and the rest pass; the
CPU rehearsal (`device=cpu`) drives training, eval, predict, export and the benchmark through the same code a GPU
runs; each part's time limit, exit status and figures decide its status."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
import torch
from omegaconf import OmegaConf

from src.checks.gpu_check import run_one, skip_reason
from src.checks.part_process import last_error_line, run_part
from src.checks.parts import PARTS, Context, Part, gpu_test_figures
from tests.helpers import ROOT, TINY, run_in_process

NO_CUDA = not torch.cuda.is_available()
# TINY's model, data and trainer keys, for the rehearsal's training and benchmark runs (trainer=... is the check's).
SHRUNK = [o for o in TINY if not o.startswith(("trainer=", "callbacks.", "trainer.enable_progress_bar"))]


def config(tmp_path, **settings):
    base = OmegaConf.load(ROOT / "conf" / "gpu_check.yaml")
    del base["defaults"]
    return OmegaConf.merge(base, {"paths": {"output_dir": str(tmp_path), "data_dir": str(tmp_path)}}, settings)


def fake_part(code: str, **kwargs) -> Part:
    """A part whose process is `python -c <code>` and whose figures are whatever figures.json says."""

    def figures(ctx: Context) -> dict:
        return json.loads((ctx.folder("fake") / "figures.json").read_text())

    return Part("fake", "a stand-in", lambda ctx: ["-c", code.replace("FOLDER", str(ctx.folder("fake")))], figures,
                **kwargs)  # fmt: skip


@pytest.mark.skipif(not NO_CUDA, reason="what a machine without CUDA reports")
def test_skip_reasons_without_cuda(tmp_path):
    parts = {part.name: part for part in PARTS}
    check = Context(config(tmp_path), tmp_path)
    assert skip_reason(parts["training"], check) == "skipped: no CUDA"
    assert skip_reason(parts["gpu_tests"], check) == "skipped: no CUDA"
    assert skip_reason(parts["multi_gpu_error"], check) is None
    rehearsal = Context(config(tmp_path, device="cpu"), tmp_path)
    assert skip_reason(parts["training"], rehearsal) is None  # runs on the CPU
    assert skip_reason(parts["compile"], rehearsal) == "skipped: no CUDA"  # CUDA only, even rehearsed
    rehearsal.results["training"] = {"status": "failed: exit 1"}
    assert skip_reason(parts["eval"], rehearsal) == "skipped: training did not pass"
    chosen = Context(config(tmp_path, device="cpu", parts=["training"]), tmp_path)
    assert skip_reason(parts["eval"], chosen) == "skipped: not selected (parts=['training'])"


def test_a_part_is_judged_by_its_exit_status_its_figures_and_its_time_limit(tmp_path):
    ctx = Context(config(tmp_path, limits_s={"fake": 30}), tmp_path)
    write = "import json, pathlib; pathlib.Path('FOLDER/figures.json').write_text(json.dumps({FIGURES}))"
    passed = run_one(fake_part(write.replace("{FIGURES}", "{'x': 1.5}")), ctx)
    assert passed["status"] == "passed" and passed["figures"] == {"x": 1.5}
    assert passed["command"].startswith("python -c ") and (tmp_path / "fake" / "console.txt").is_file()
    off_target = run_one(fake_part(write.replace("{FIGURES}", "{'x': 0.1, 'problem': 'x is 0.1 < 0.5'}")), ctx)
    assert off_target["status"] == "failed: x is 0.1 < 0.5"
    crashed = run_one(fake_part("print('working'); raise ValueError('no such file: a.png')"), ctx)
    assert crashed["status"] == "failed: exit 1" and crashed["error"] == "ValueError: no such file: a.png"
    (tmp_path / "fake" / "figures.json").unlink()
    expected_error = run_one(fake_part("import sys; sys.exit(1)", exit_status=1), ctx)
    assert expected_error["status"].startswith("failed: its results could not be read (FileNotFoundError")


def test_a_part_over_its_limit_is_killed_with_its_children_and_the_check_goes_on(tmp_path):
    ctx = Context(config(tmp_path, limits_s={"fake": 2}), tmp_path)
    # the part starts a child (as a DataLoader worker would) and both hang
    code = ("import subprocess, sys, time; child = subprocess.Popen([sys.executable, '-c', 'import time; "
            "time.sleep(60)']); open('FOLDER/child', 'w').write(str(child.pid)); time.sleep(60)")  # fmt: skip
    start = time.perf_counter()
    result = run_one(fake_part(code), ctx)
    assert result["status"] == "failed: over 2 s (killed)" and time.perf_counter() - start < 15
    child = int((tmp_path / "fake" / "child").read_text())
    time.sleep(0.5)
    state = process_state(child)
    assert state == "" or state.startswith("Z")  # gone, or dead and waiting for its reaper


def process_state(pid: int) -> str:
    return subprocess.run(["ps", "-p", str(pid), "-o", "stat="], capture_output=True, text=True).stdout.strip()


def test_ctrl_c_during_a_part_kills_the_part_and_its_children(tmp_path):
    """The part runs in its own session, so the terminal's Ctrl-C reaches only the check: it must end the part."""
    code = ("import os, subprocess, sys, time; child = subprocess.Popen([sys.executable, '-c', 'import time; "
            f"time.sleep(60)']); open('{tmp_path}/pids', 'w').write(f'{{os.getpid()}} {{child.pid}}'); "
            "time.sleep(60)")  # fmt: skip

    def interrupt(*_):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.alarm(3)  # as a Ctrl-C would, while the check waits for the part
    try:
        with pytest.raises(KeyboardInterrupt):
            run_part(["-c", code], tmp_path / "part", 30)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    time.sleep(0.5)
    states = [process_state(int(pid)) for pid in (tmp_path / "pids").read_text().split()]
    assert all(state == "" or state.startswith("Z") for state in states), states  # gone, or dead awaiting a reaper


def test_gpu_test_outcomes_are_read_from_pytest_s_junit_report(tmp_path):
    (tmp_path / "test_three.py").write_text(
        "import pytest\n\ndef test_ok():\n    pass\n\ndef test_bad():\n    assert 0\n\n"
        "@pytest.mark.skip(reason='no CUDA')\ndef test_skipped():\n    pass\n"
    )
    junit = tmp_path / "gpu_tests" / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path), f"--junitxml={junit}"]
    subprocess.run(cmd, cwd=tmp_path, capture_output=True, check=False)
    figures = gpu_test_figures(Context(config(tmp_path), tmp_path))
    assert figures["tests"] == {
        "test_three::test_ok": "passed",
        "test_three::test_bad": "failure",
        "test_three::test_skipped": "skipped",
    }
    assert figures["passed"] == 1


def test_the_last_error_line_is_the_error_not_the_traceback_s_last_line():
    text = "Traceback (most recent call last):\n  File x\nsrc.core.errors.ConfigError: bad key\n\nexiting\n"
    assert last_error_line(text) == "src.core.errors.ConfigError: bad key"
    assert last_error_line("nothing went wrong here\n") == "nothing went wrong here"
    assert last_error_line("") is None


def test_an_unknown_device_or_part_is_refused_in_one_line(tmp_path):
    proc = run_in_process("src.gpu_check", ["device=tpu", f"hydra.run.dir={tmp_path}"])
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .endswith("] - ConfigError: device must be cuda (the check) or cpu (its rehearsal), got 'tpu'")
    )
    assert "Traceback" not in proc.stderr
    proc = run_in_process("src.gpu_check", ["parts=[training,evl]", f"hydra.run.dir={tmp_path}"])
    assert proc.returncode == 1 and "ConfigError: parts: no part named evl; the parts are gpu_tests, training" in (
        proc.stderr
    )


@pytest.mark.slow
@pytest.mark.skipif(not NO_CUDA, reason="what `make gpu-check` reports on a machine without CUDA")
def test_gpu_check_without_cuda_skips_the_cuda_parts_and_passes_the_rest(tmp_path):
    proc = run_in_process("src.gpu_check", [f"hydra.run.dir={tmp_path}"])  # its parts: processes
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    assert result["environment"]["cuda_available"] is False and result["environment"]["gpus"] == []
    assert result["passed"] == ["multi_gpu_error"] and result["failed"] == []
    assert {result["parts"][name]["status"] for name in result["skipped"]} == {"skipped: no CUDA"}
    assert len(result["skipped"]) == len(PARTS) - 1
    error = result["parts"]["multi_gpu_error"]["figures"]["error"]
    assert (
        error == "ConfigError: trainer.gpus=1 but this machine has no CUDA GPU; drop trainer.gpus (or use trainer=cpu)"
    )
    log = (tmp_path / "gpu_check.log").read_text()
    assert "[1/10] gpu_tests: skipped: no CUDA" in log and "multi_gpu_error: passed" in log


@pytest.mark.slow
def test_the_cpu_rehearsal_runs_training_eval_predict_export_and_the_benchmark(tmp_path, data_cache):
    """The chain a GPU runs, with the CPU standing in: commands, files and figures read back."""
    parts = "[training,eval,predict,export,benchmark_quickstart]"
    overrides = [
        "device=cpu",
        f"parts={parts}",
        "target_test_miou=0.0",
        "predict_images=2",
        "training_overrides=['trainer.max_epochs=2']",
        "extra_overrides=[" + ",".join(f"'{o}'" for o in SHRUNK) + "]",
        "benchmark_overrides=['bench.rounds=1','bench.steps=2','bench.warmup=1','bench.pipeline_batches=2']",
        f"paths.data_dir={data_cache}",
        f"hydra.run.dir={tmp_path}",
    ]
    proc = run_in_process("src.gpu_check", overrides)  # the parts are processes of their own
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    assert result["passed"] == ["training", "eval", "predict", "export", "benchmark_quickstart"], result["parts"]
    figures = {name: result["parts"][name]["figures"] for name in result["passed"]}
    assert 0 <= figures["training"]["test_miou"] <= 1 and figures["training"]["global_steps"] == 4
    assert abs(figures["eval"]["difference_from_training_test"]) <= 0.02 and figures["eval"]["device"] == "cpu"
    assert figures["predict"] == {"images": 2, "failed": 0, "device": "cpu"}
    assert figures["export"]["max_abs_diff"] <= figures["export"]["atol"]
    assert figures["benchmark_quickstart"]["train_images_per_s"] > 0
    assert figures["benchmark_quickstart"]["width"] == 4  # the shrunk model, not the quickstart's 16
    assert (tmp_path / "training" / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "export" / "unetpp.onnx").is_file()


def test_every_part_has_a_time_limit_and_a_line_saying_what_it_checks():
    cfg = OmegaConf.load(ROOT / "conf" / "gpu_check.yaml")
    assert set(cfg.limits_s) == {part.name for part in PARTS}
    assert all(part.what for part in PARTS) and len({part.name for part in PARTS}) == len(PARTS)
