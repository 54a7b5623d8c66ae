"""The parts of the GPU check: what each runs (a real `python -m src.<tool>` command line), what it must need,
and which figures it reads back from the files that tool writes. The order is what matters most first, so a
window that closes early still holds the training, eval, predict and export results."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from PIL import Image

from src.data.street_scene import draw_street_scene
from src.data.synthetic import SPLIT_OFFSET

# What `device` (conf/gpu_check.yaml) means for each tool: the check itself, or its rehearsal on the CPU.
# On a GPU the peak is timed on 8192^3 products: a 2048^3 bf16 one takes ~20 us there, as long as its launch and sync.
TARGETS = {
    "cuda": {"trainer": "gpu", "gpus": 1, "accelerator": "gpu", "device": "cuda", "bench": ["bench.matmul_size=8192"]},
    "cpu": {"trainer": "cpu", "gpus": 0, "accelerator": "cpu", "device": "cpu", "bench": []},
}
BENCH_FIGURES = (  # the benchmark.json keys the check keeps (train_images_per_s: Lightning's)
    "device", "width", "precision", "lightning_vs_raw", "pipeline_vs_training", "achieved_gflops_per_s",
    "compute_dtype", "compute_dtype_matmul_peak_gflops_per_s", "share_of_compute_dtype_peak", "peak_device_memory_gib",
)  # fmt: skip


@dataclass
class Context:
    """What the parts share: the check's config, its run folder, where they run, and the results so far."""

    cfg: DictConfig
    out: Path
    results: dict[str, dict] = field(default_factory=dict)

    @property
    def target(self) -> dict:
        return TARGETS[self.cfg.device]

    def run_folder(self, name: str) -> list[str]:
        """The overrides that put a part's run in its folder and its data where the check's own config says."""
        return [f"paths.data_dir={self.cfg.paths.data_dir}", f"hydra.run.dir={self.folder(name)}"]

    def folder(self, name: str) -> Path:
        return self.out / name

    def training_checkpoint(self) -> str:
        return self.results["training"]["figures"]["checkpoint"]


@dataclass(frozen=True)
class Part:
    """One check: `args` builds its command line (after `python`), `figures` reads its files back and may add
    `problem` (why it failed although it exited as expected)."""

    name: str
    what: str
    args: Callable[[Context], list[str]]
    figures: Callable[[Context], dict]
    cuda: str = "in_check"  # in_check: CUDA in the check, the CPU in its rehearsal; always: CUDA only; never
    after: str | None = None  # the part whose result (its checkpoint) this one needs
    exit_status: int = 0  # what a working project exits with here


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def benchmark_args(ctx: Context, name: str, overrides: list[str]) -> list[str]:
    settings = [f"trainer={ctx.target['trainer']}", *overrides, "bench.profile_rows=0", *ctx.target["bench"]]
    shrunk = [*ctx.cfg.extra_overrides, *ctx.cfg.benchmark_overrides]
    return ["-m", "src.benchmark", *settings, *shrunk, *ctx.run_folder(name)]


def benchmark_figures(ctx: Context, name: str) -> dict:
    result = read_json(ctx.folder(name) / "benchmark.json")
    figures = {"train_images_per_s": result["train_images_per_s"]["lightning"]}
    figures |= {key: result[key] for key in BENCH_FIGURES if key in result}
    if "inference" in result:
        figures["inference_images_per_s"] = {row["model"]: row["images_per_s"] for row in result["inference"]}
    return figures


def compile_figures(ctx: Context) -> dict:
    figures = benchmark_figures(ctx, "compile")
    if "WON'T CONVERT" in (ctx.folder("compile") / "console.txt").read_text():  # dynamo's warning as it falls back
        figures["problem"] = "torch.compile fell back to eager (WON'T CONVERT in console.txt)"
    eager = ctx.results.get("benchmark_device_resident", {}).get("figures", {}).get("train_images_per_s")
    if eager:
        figures["compiled_vs_eager"] = figures["train_images_per_s"] / eager
    return figures


def gpu_test_figures(ctx: Context) -> dict:
    suite = ET.parse(ctx.folder("gpu_tests") / "junit.xml").getroot().iter("testcase")
    outcomes = {}
    for case in suite:
        kinds = {child.tag for child in case} & {"failure", "error", "skipped"}
        outcomes[f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"] = min(kinds or {"passed"})
    figures: dict = {"tests": outcomes, "passed": sum(o == "passed" for o in outcomes.values())}
    if not outcomes:
        figures["problem"] = "no test marked gpu was collected"
    return figures


def training_figures(ctx: Context) -> dict:
    metrics = read_json(ctx.folder("training") / "metrics.json")
    test_miou = metrics["test"].get("test/miou")
    figures = {
        "test_miou": test_miou,
        "test_acc": metrics["test"].get("test/acc"),
        "best_val_miou": metrics["best_val"].get("val/miou"),
        "epochs_run": metrics["epochs_run"],
        "global_steps": metrics["global_steps"],
        "target_test_miou": ctx.cfg.target_test_miou,
        "checkpoint": metrics["checkpoints"]["best"],
    }
    if test_miou is None or test_miou < ctx.cfg.target_test_miou:
        figures["problem"] = f"test mIoU {test_miou} is below the target {ctx.cfg.target_test_miou}"
    return figures


def eval_figures(ctx: Context) -> dict:
    metrics = read_json(ctx.folder("eval") / "metrics.json")
    trained = ctx.results["training"]["figures"]["test_miou"]
    figures = {"test_miou": metrics["test"]["test/miou"], "device": metrics["device"]}
    figures["difference_from_training_test"] = figures["test_miou"] - trained
    if abs(figures["difference_from_training_test"]) > ctx.cfg.eval_tolerance:
        figures["problem"] = f"eval's test mIoU differs from training's by more than {ctx.cfg.eval_tolerance}"
    return figures | device_problem(ctx, figures["device"])


def device_problem(ctx: Context, device: str) -> dict:
    expected = ctx.target["device"]
    return {} if device.startswith(expected) else {"problem": f"ran on {device}, not {expected}"}


def predict_input(ctx: Context) -> Path:
    """A few of the built-in test scenes, drawn afresh (no dataset needed), as the images predict reads."""
    folder = ctx.folder("predict") / "input"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(ctx.cfg.predict_images):
        rng = np.random.default_rng([0, SPLIT_OFFSET["test"], i])  # test scene i of the default set (seed 0)
        image, _ = draw_street_scene(rng, 128, 256)
        Image.fromarray(image).save(folder / f"scene_{i}.png")
    return folder


def predict_figures(ctx: Context) -> dict:
    result = read_json(ctx.folder("predict") / "predictions.json")
    figures = {"images": len(result["images"]), "failed": len(result["failed"]), "device": result["device"]}
    if figures["failed"] or figures["images"] != ctx.cfg.predict_images:
        figures["problem"] = f"{figures['images']} of {ctx.cfg.predict_images} images predicted"
    return figures | device_problem(ctx, figures["device"])


def export_figures(ctx: Context) -> dict:
    result = read_json(ctx.folder("export") / "export.json")
    return {key: result[key] for key in ("format", "bytes", "max_abs_diff", "atol", "runtime")}


def multi_gpu_figures(ctx: Context) -> dict:
    console = (ctx.folder("multi_gpu_error") / "console.txt").read_text()
    errors = re.findall(r"ConfigError: trainer\.gpus=.*", console)  # the line, past any log prefix
    figures = {"error": errors[-1] if errors else None, "traceback": "Traceback" in console}
    if not errors or figures["traceback"]:
        figures["problem"] = "expected one line 'ConfigError: trainer.gpus=...' and no traceback"
    return figures


def gpu_tests_args(ctx: Context) -> list[str]:
    junit = ctx.folder("gpu_tests") / "junit.xml"
    return ["-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "tests", f"--junitxml={junit}"]


def training_args(ctx: Context) -> list[str]:
    setting = ["experiment=quickstart", "model=unetpp", f"trainer.gpus={ctx.target['gpus']}"]
    overrides = [*ctx.cfg.training_overrides, *ctx.cfg.extra_overrides]
    return ["-m", "src.train", *setting, *overrides, *ctx.run_folder("training")]


def checkpoint_tool_args(ctx: Context, tool: str, settings: list[str]) -> list[str]:
    """`python -m src.<tool>` on the training part's best checkpoint, writing into the tool's own part folder."""
    checkpoint = f"ckpt_path={ctx.training_checkpoint()}"
    return ["-m", f"src.{tool}", checkpoint, *settings, *ctx.run_folder(tool)]


def multi_gpu_args(ctx: Context) -> list[str]:
    gpus = f"trainer.gpus={torch.cuda.device_count() + 1}"
    return ["-m", "src.train", gpus, *ctx.run_folder("multi_gpu_error")]


QUICKSTART = ["experiment=quickstart", "bench.inference=false"]
RESIDENT = [*QUICKSTART, "data.device_resident=true"]
PARTS = [
    Part(
        "gpu_tests",
        "the tests marked gpu (pytest -m gpu): bf16, channels_last, device-resident data, the sync-free step, NCCL",
        gpu_tests_args,
        gpu_test_figures,
        cuda="always",
    ),
    Part(
        "training",
        "a short UNet++ training on the built-in scenes (experiment=quickstart model=unetpp trainer.gpus=1)",
        training_args,
        training_figures,
    ),
    Part(
        "eval",
        "src.eval of the training's best checkpoint on the test split",
        lambda ctx: checkpoint_tool_args(ctx, "eval", [f"accelerator={ctx.target['accelerator']}"]),
        eval_figures,
        after="training",
    ),
    Part(
        "predict",
        "src.predict of that checkpoint on built-in test scenes, MC dropout",
        lambda ctx: checkpoint_tool_args(
            ctx, "predict", [f"input={predict_input(ctx)}", f"device={ctx.target['device']}"]
        ),
        predict_figures,
        after="training",
    ),
    Part(
        "export",
        "src.export of that checkpoint to ONNX, parity-checked in onnxruntime (the export tool runs on the CPU)",
        lambda ctx: checkpoint_tool_args(ctx, "export", ["format=onnx"]),
        export_figures,
        after="training",
    ),
    Part(
        "benchmark_reference",
        "src.benchmark at the reference width (64) in bf16-mixed: img/s, Lightning / raw, GFLOP/s, bf16 peak share",
        lambda ctx: benchmark_args(ctx, "benchmark_reference", ["trainer.precision=bf16-mixed"]),
        lambda ctx: benchmark_figures(ctx, "benchmark_reference"),
    ),
    Part(
        "benchmark_quickstart",
        "src.benchmark experiment=quickstart (width 16) fed by the DataLoader",
        lambda ctx: benchmark_args(ctx, "benchmark_quickstart", QUICKSTART),
        lambda ctx: benchmark_figures(ctx, "benchmark_quickstart"),
    ),
    Part(
        "benchmark_device_resident",
        "the same with data.device_resident=true (batches cut and augmented on the device)",
        lambda ctx: benchmark_args(ctx, "benchmark_device_resident", RESIDENT),
        lambda ctx: benchmark_figures(ctx, "benchmark_device_resident"),
    ),
    Part(
        "compile",
        "the same with model.compile=true, against eager (benchmark_device_resident)",
        lambda ctx: benchmark_args(ctx, "compile", [*RESIDENT, "model.compile=true"]),
        compile_figures,
        cuda="always",
    ),
    Part(
        "multi_gpu_error",
        "trainer.gpus=<GPUs + 1> stops with one line naming the key, no traceback",
        multi_gpu_args,
        multi_gpu_figures,
        cuda="never",
        exit_status=1,
    ),
]
