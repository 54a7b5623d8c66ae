"""Every measurement of `python -m src.benchmark`, in one process; `benchmark(cfg)` returns what benchmark.json holds.

Training speed is measured in alternating rounds (raw loop, Lightning, raw loop with the module's metrics) after
warm-up, so a slow drift of a shared machine hits all three alike; ratios measured side by side are the result.
"""

from __future__ import annotations

import resource
import statistics
import time

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from src.core.device_timing import matmul_gflops
from src.models.cost_comparison import compared_networks, measure_networks
from src.models.flop_count import train_gflops_per_image
from src.training.benchmark.lightning_loop import lightning_images_per_s
from src.training.benchmark.raw_loop import AUTOCAST, RawLoop, cycle
from src.training.module import SegmentationModule


def training_device(accelerator: str) -> torch.device:
    """The device trainer.accelerator trains on: CUDA for gpu/cuda, or for auto when a GPU is present."""
    use_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    return torch.device("cuda" if use_gpu else "cpu")


def pipeline_images_per_s(loader: DataLoader, batches: int) -> float:
    """Images/s the train DataLoader serves with nothing consuming them, after its first batch (worker start)."""
    iterator = cycle(loader)
    next(iterator)
    start, images = time.perf_counter(), 0
    for _ in range(batches):
        images += len(next(iterator)[0])
    return images / (time.perf_counter() - start)


def peak_rss_gib() -> float:
    """Peak resident memory of this process and of its finished children (loader workers), in GiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 2**20  # ru_maxrss is in KiB on Linux


def inference_rows(cfg: DictConfig, device: torch.device) -> list[dict]:
    """Img/s, batch latency and GFLOPs of UNet and each UNet++ prune level at the configured width (eval, fp32)."""
    net = cfg.model.net
    rows = compared_networks(cfg.data.num_classes, net.base_channels, net.depth, net.get("head_channels", None))
    memory_format = torch.channels_last if cfg.model.channels_last else torch.contiguous_format
    batch = torch.randn(cfg.data.batch_size, 3, *cfg.data.size, device=device).contiguous(memory_format=memory_format)
    measured = measure_networks(rows, batch, cfg.bench.inference_batches, warmup=1, memory_format=memory_format)
    return [
        {
            "model": row["model"],
            "images_per_s": row["images_per_s"],
            "batch_latency_s": statistics.median(row["seconds_per_batch"]),
            "gflops": row["gflops"],
        }
        for row in measured
    ]


def setting(
    cfg: DictConfig, module: SegmentationModule, datamodule: L.LightningDataModule, device: torch.device
) -> dict:
    """What was measured: the device, torch, the model and its width, the data's shape and serving, the precision."""
    on_gpu = device.type == "cuda"
    return {
        "device": torch.cuda.get_device_name(device) if on_gpu else f"CPU, {torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "model": type(module.net).__name__,
        "width": cfg.model.net.get("base_channels"),
        "size": list(cfg.data.size),
        "batch_size": cfg.data.batch_size,
        "num_workers": datamodule.num_loader_workers(),  # as resolved (data.num_workers=auto)
        "device_resident": cfg.data.device_resident,
        "precision": cfg.trainer.precision,
        "channels_last": cfg.model.channels_last,
    }


def training_speed(rounds: dict[str, list[float]], batch_size: int) -> dict:
    """Each path's median images/s over the rounds, the rounds themselves, and Lightning's ratios to the raw loop."""
    lightning, raw = statistics.median(rounds["lightning"]), statistics.median(rounds["raw_loop"])
    with_metrics = statistics.median(rounds["raw_loop_with_metrics"])
    paired = (lt / r for lt, r in zip(rounds["lightning"], rounds["raw_loop"], strict=True))
    return {
        "train_images_per_s": {"lightning": lightning, "raw_loop": raw, "raw_loop_with_metrics": with_metrics},
        "train_images_per_s_rounds": rounds,
        "lightning_vs_raw": lightning / raw,
        "lightning_vs_raw_with_metrics": lightning / with_metrics,
        # each round's Lightning / raw, then their median: a slow drift or one disturbed round moves it less
        "lightning_vs_raw_paired_median": statistics.median(paired),
        # what each Lightning step costs beyond the raw loop's, in ms (negative: within noise of nothing)
        "lightning_extra_ms_per_step": 1e3 * batch_size * (1 / lightning - 1 / raw),
    }


def compute_use(gflops: float, images_per_s: float, cfg: DictConfig, device: torch.device) -> dict:
    """Training FLOPs per image, the GFLOP/s they make at `images_per_s`, and their share of this machine's matmul
    peak in float32 and in the dtype the convolutions run in (trainer.precision)."""
    peak = matmul_gflops(cfg.bench.matmul_size, device)
    compute_dtype = AUTOCAST.get(cfg.trainer.precision, torch.float32)
    compute_peak = (
        peak if compute_dtype == torch.float32 else matmul_gflops(cfg.bench.matmul_size, device, compute_dtype)
    )
    return {
        "train_gflops_per_image": gflops,
        "achieved_gflops_per_s": gflops * images_per_s,
        "matmul_peak_gflops_per_s": peak,  # float32
        "compute_dtype": str(compute_dtype).removeprefix("torch."),
        "compute_dtype_matmul_peak_gflops_per_s": compute_peak,
        "share_of_matmul_peak": gflops * images_per_s / peak,
        "share_of_compute_dtype_peak": gflops * images_per_s / compute_peak,
    }


def benchmark(cfg: DictConfig) -> dict:
    """Run every measurement; returns what benchmark.json holds."""
    L.seed_everything(cfg.seed or 0, workers=True)
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    module: SegmentationModule = instantiate(cfg.model)
    device = training_device(cfg.trainer.accelerator)
    datamodule.device = device  # where data.device_resident batches live before a Trainer is attached
    b = cfg.bench
    raw_loop = RawLoop(module, datamodule, device, cfg.trainer.precision, b.warmup, b.steps)  # before any training

    rounds: dict[str, list[float]] = {"lightning": [], "raw_loop": [], "raw_loop_with_metrics": []}
    # raw loop: the module's forward + loss, backward, step; with metrics: its training_step; Lightning: Trainer.fit
    for _ in range(b.rounds):
        rounds["raw_loop"].append(raw_loop.images_per_s())
        rounds["lightning"].append(lightning_images_per_s(cfg.trainer, module, datamodule, b.warmup, b.steps))
        rounds["raw_loop_with_metrics"].append(raw_loop.images_per_s(with_metrics=True))
    speed = training_speed(rounds, cfg.data.batch_size)
    train_ips = speed["train_images_per_s"]["lightning"]
    pipeline = pipeline_images_per_s(datamodule.train_dataloader(), b.pipeline_batches)
    first_batch = next(iter(datamodule.train_dataloader()))
    gflops = train_gflops_per_image(module.net, first_batch, cfg.model.ignore_index)
    result = {
        **setting(cfg, module, datamodule, device),
        **speed,
        "pipeline_images_per_s": pipeline,
        "pipeline_vs_training": pipeline / train_ips,
        **compute_use(gflops, train_ips, cfg, device),
        "peak_rss_gib": peak_rss_gib(),
    }
    if device.type == "cuda":
        result["peak_device_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    if b.inference:
        result["inference"] = inference_rows(cfg, device)
    if b.profile_rows:
        result["profile"] = raw_loop.operator_shares(b.profile_rows)
    return result
