"""How fast this machine trains and serves a configured model: `python -m src.benchmark [overrides]`, `make bench`.

Composes the training config (conf/benchmark.yaml), then measures, in one process:
- training images/s through the real Lightning path (SegmentationModule, Trainer, the configured precision) and
  through a minimal hand-written loop of the same network, data, optimizer and batch, in alternating rounds
  after warm-up, and their ratio: what the framework costs;
- the input pipeline alone (the configured train DataLoader: dataset, augmentation, collate) in images/s, and
  its ratio to what training consumes;
- training FLOPs per image (forward + backward, torch.utils.flop_counter), the achieved GFLOP/s and their share
  of this machine's float32 matmul peak, measured here;
- inference images/s and batch latency of UNet and each UNet++ prune level at the configured width;
- peak memory: host RSS (this process and its loader workers), and device memory on a GPU.
Prints one table and writes benchmark.json to its run folder. Ratios measured side by side are the result;
absolute times on a shared machine are noisy.
"""

from __future__ import annotations

import copy
import resource
import statistics
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra.utils import instantiate
from lightning import Callback
from omegaconf import DictConfig
from rich.table import Table
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from src.cli.composition_errors import one_line_config_errors
from src.cli.exit_on_user_error import exit_on_user_error
from src.core.atomic_files import write_json_atomically
from src.core.console import stdout_console
from src.metrics.confusion import ConfusionMatrix
from src.model_table import build_rows, forward_gflops, time_batches
from src.training.module import SegmentationModule

AUTOCAST = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}  # precision -> autocast dtype


def sync(device: torch.device) -> None:
    """Wait for the device, so a timestamp means the work before it is done (a no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(n: int, device: torch.device, dtype: torch.dtype = torch.float32, repeats: int = 5) -> float:
    """This machine's dense matmul rate: the best of `repeats` n x n products, in GFLOP/s."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def cycle(loader: torch.utils.data.DataLoader) -> Iterator:
    """Batches forever, epoch after epoch."""
    while True:
        yield from loader


class StepTimer(Callback):
    """Times training steps warmup+1 .. warmup+steps (Lightning's own loop, nothing else in the window)."""

    def __init__(self, warmup: int, steps: int) -> None:
        self.warmup, self.steps = warmup, steps
        self.seconds: float | None = None
        self.images = 0

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step == self.warmup:
            sync(pl_module.device)
            self.start = time.perf_counter()
        if trainer.global_step >= self.warmup:
            self.images += len(batch[0])

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        if trainer.global_step == self.warmup + self.steps:
            sync(pl_module.device)
            self.seconds = time.perf_counter() - self.start
            trainer.should_stop = True


def lightning_round(cfg: DictConfig, module: SegmentationModule, datamodule: L.LightningDataModule) -> float:
    """Images/s of `steps` training steps through Trainer.fit with the configured trainer settings."""
    b = cfg.bench
    timer = StepTimer(b.warmup, b.steps)
    trainer = instantiate(
        cfg.trainer,
        max_epochs=-1,
        max_steps=b.warmup + b.steps,
        limit_train_batches=None,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    trainer.fit(module, datamodule=datamodule)
    return timer.images / timer.seconds


def training_objective(cfg: DictConfig, datamodule: L.LightningDataModule) -> nn.Module:
    """The loss the module trains with (model.loss, class weights included), so both paths do the same work."""
    objective = instantiate(cfg.model.loss) if cfg.model.get("loss") else None
    if objective is None or objective.is_plain_cross_entropy:
        return nn.CrossEntropyLoss(ignore_index=cfg.model.ignore_index)  # as the module trains plain CE
    objective.set_class_counts(datamodule.label_counts("train"))
    return objective


def raw_round(
    cfg: DictConfig,
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterator,
    device: torch.device,
    criterion: nn.Module,
    confmat: ConfusionMatrix | None = None,
) -> float:
    """Images/s of `steps` steps of the plainest correct PyTorch loop over the same data, net, loss and optimizer.

    With `confmat`, the loop also counts the predictions as the module does for train/acc and train/miou, which
    splits the Lightning path's extra cost into what its metrics cost and what the framework costs.
    """
    b = cfg.bench
    memory_format = torch.channels_last if cfg.model.channels_last else torch.contiguous_format
    dtype = AUTOCAST.get(cfg.trainer.precision)
    autocast = torch.autocast(device.type, dtype=dtype) if dtype else nullcontext()
    net.train()
    images_seen = 0
    for step in range(b.warmup + b.steps):
        if step == b.warmup:
            sync(device)
            start = time.perf_counter()
        images, labels = next(batches)
        images = images.to(device, non_blocking=True).contiguous(memory_format=memory_format)
        labels = labels.to(device, non_blocking=True).long()
        with autocast:
            outputs = net(images)
            if isinstance(outputs, list):  # deep supervision: the heads' weighted losses, as the module trains
                loss = sum(w * criterion(z, labels) for w, z in zip(net.head_weights, outputs, strict=True))
            else:
                loss = criterion(outputs, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if confmat is not None:
            logits = outputs[-1] if isinstance(outputs, list) else outputs
            confmat.update(logits.detach().max(1).indices, labels)
        if step >= b.warmup:
            images_seen += len(images)
    sync(device)
    return images_seen / (time.perf_counter() - start)


def profile_steps(
    cfg: DictConfig,
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterator,
    device: torch.device,
    criterion: nn.Module,
) -> list[dict]:
    """Self time per operator over `steps` raw-loop training steps (torch.profiler), largest first."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        raw_round(cfg, net, optimizer, batches, device, criterion)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[: cfg.bench.profile_rows]
    return [{"op": e.key, "share": e.self_cpu_time_total / total, "calls": e.count} for e in top]


def pipeline_images_per_s(loader: torch.utils.data.DataLoader, batches: int) -> float:
    """Images/s the train DataLoader serves with nothing consuming them, after its first batch (worker start)."""
    iterator = cycle(loader)
    next(iterator)
    start, images = time.perf_counter(), 0
    for _ in range(batches):
        images += len(next(iterator)[0])
    return images / (time.perf_counter() - start)


def train_gflops_per_image(net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], ignore_index: int) -> float:
    """Forward + backward FLOPs of one training step, per image, in GFLOP (a multiply-add counts 2)."""
    net = copy.deepcopy(net).train()
    images, labels = batch
    with FlopCounterMode(display=False) as counter:
        outputs = net(images)
        outputs = outputs if isinstance(outputs, list) else [outputs]
        sum(nn.functional.cross_entropy(z, labels.long(), ignore_index=ignore_index) for z in outputs).backward()
    return counter.get_total_flops() / len(images) / 1e9


def peak_rss_gib() -> float:
    """Peak resident memory of this process and of its finished children (loader workers), in GiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 2**20  # ru_maxrss is in KiB on Linux


def inference_rows(cfg: DictConfig, device: torch.device) -> list[dict]:
    """Img/s, batch latency and GFLOPs of UNet and each UNet++ prune level at the configured width (eval, fp32)."""
    net_cfg = cfg.model.net
    arch = DictConfig(
        {
            "num_classes": cfg.data.num_classes,
            "base_channels": net_cfg.base_channels,
            "depth": net_cfg.depth,
            "head_channels": net_cfg.get("head_channels", None),
        }
    )
    memory_format = torch.channels_last if cfg.model.channels_last else torch.contiguous_format
    nets = {name: net.eval().to(device, memory_format=memory_format) for name, (net, _) in build_rows(arch).items()}
    batch = torch.randn(cfg.data.batch_size, 3, *cfg.data.size, device=device).contiguous(memory_format=memory_format)
    seconds = time_batches(nets, batch, cfg.bench.inference_batches, warmup=1)
    rows = []
    for name, net in nets.items():
        latency = statistics.median(seconds[name])
        gflops = forward_gflops(net.cpu(), tuple(cfg.data.size))
        rows.append({"model": name, "images_per_s": len(batch) / latency, "batch_latency_s": latency, "gflops": gflops})
    return rows


def benchmark(cfg: DictConfig) -> dict:
    """Run every measurement; returns what benchmark.json holds."""
    L.seed_everything(cfg.seed or 0, workers=True)
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    module: SegmentationModule = instantiate(cfg.model)
    raw_net = copy.deepcopy(module.net)  # the same initial weights for both paths
    use_gpu = cfg.trainer.accelerator in ("gpu", "cuda") or (
        cfg.trainer.accelerator == "auto" and torch.cuda.is_available()
    )
    device = torch.device("cuda" if use_gpu else "cpu")
    raw_net.to(device)
    datamodule.device = device  # where data.device_resident batches live before a Trainer is attached
    raw_optimizer = instantiate(cfg.model.optimizer)(params=raw_net.parameters())
    batches = cycle(datamodule.train_dataloader())
    criterion = training_objective(cfg, datamodule).to(device)

    lightning, raw, raw_metrics = [], [], []
    confmat = ConfusionMatrix(cfg.data.num_classes, cfg.model.ignore_index).to(device)
    for _ in range(cfg.bench.rounds):
        raw.append(raw_round(cfg, raw_net, raw_optimizer, batches, device, criterion))
        lightning.append(lightning_round(cfg, module, datamodule))
        raw_metrics.append(raw_round(cfg, raw_net, raw_optimizer, batches, device, criterion, confmat))
    train_ips = statistics.median(lightning)
    pipeline = pipeline_images_per_s(datamodule.train_dataloader(), cfg.bench.pipeline_batches)
    first_batch = next(iter(datamodule.train_dataloader()))
    gflops = train_gflops_per_image(module.net.cpu(), first_batch, cfg.model.ignore_index)
    peak = matmul_gflops(cfg.bench.matmul_size, device)
    compute_dtype = AUTOCAST.get(cfg.trainer.precision, torch.float32)  # what the convolutions run in
    compute_peak = (
        peak if compute_dtype == torch.float32 else matmul_gflops(cfg.bench.matmul_size, device, compute_dtype)
    )
    result = {
        "device": torch.cuda.get_device_name(device) if use_gpu else f"CPU, {torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "model": type(module.net).__name__,
        "width": cfg.model.net.get("base_channels"),
        "size": list(cfg.data.size),
        "batch_size": cfg.data.batch_size,
        "num_workers": datamodule.num_loader_workers(),  # as resolved (data.num_workers=auto)
        "device_resident": cfg.data.device_resident,
        "precision": cfg.trainer.precision,
        "channels_last": cfg.model.channels_last,
        "train_images_per_s": {
            "lightning": train_ips,
            "raw_loop": statistics.median(raw),
            "raw_loop_with_metrics": statistics.median(raw_metrics),
        },
        "train_images_per_s_rounds": {"lightning": lightning, "raw_loop": raw, "raw_loop_with_metrics": raw_metrics},
        "lightning_vs_raw": train_ips / statistics.median(raw),
        "lightning_vs_raw_with_metrics": train_ips / statistics.median(raw_metrics),
        # each round's Lightning / raw, then their median: a slow drift or one disturbed round moves it less
        "lightning_vs_raw_paired_median": statistics.median(lt / r for lt, r in zip(lightning, raw, strict=True)),
        # what each Lightning step costs beyond the raw loop's, in ms (negative: within noise of nothing)
        "lightning_extra_ms_per_step": 1e3 * cfg.data.batch_size * (1 / train_ips - 1 / statistics.median(raw)),
        "pipeline_images_per_s": pipeline,
        "pipeline_vs_training": pipeline / train_ips,
        "train_gflops_per_image": gflops,
        "achieved_gflops_per_s": gflops * train_ips,
        "matmul_peak_gflops_per_s": peak,  # float32
        "compute_dtype": str(compute_dtype).removeprefix("torch."),
        "compute_dtype_matmul_peak_gflops_per_s": compute_peak,
        "share_of_matmul_peak": gflops * train_ips / peak,
        "share_of_compute_dtype_peak": gflops * train_ips / compute_peak,
        "peak_rss_gib": peak_rss_gib(),
    }
    if use_gpu:
        result["peak_device_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    if cfg.bench.inference:
        result["inference"] = inference_rows(cfg, device)
    if cfg.bench.profile_rows:
        result["profile"] = profile_steps(cfg, raw_net.to(device), raw_optimizer, batches, device, criterion)
    return result


def print_table(result: dict) -> None:
    table = Table(title=f"benchmark: {result['model']} width {result['width']}, {result['device']}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    ips = result["train_images_per_s"]
    rows = [
        ("train img/s, Lightning", f"{ips['lightning']:.2f}"),
        ("train img/s, raw PyTorch loop", f"{ips['raw_loop']:.2f}"),
        ("Lightning / raw", f"{result['lightning_vs_raw']:.3f}x"),
        ("Lightning / raw, median of per-round ratios", f"{result['lightning_vs_raw_paired_median']:.3f}x"),
        ("Lightning's extra time per step (ms)", f"{result['lightning_extra_ms_per_step']:.1f}"),
        ("train img/s, raw loop + the module's metrics", f"{ips['raw_loop_with_metrics']:.2f}"),
        ("Lightning / (raw + metrics)", f"{result['lightning_vs_raw_with_metrics']:.3f}x"),
        ("input pipeline img/s", f"{result['pipeline_images_per_s']:.1f}"),
        ("input pipeline / training", f"{result['pipeline_vs_training']:.1f}x"),
        ("train GFLOP per image (fwd+bwd)", f"{result['train_gflops_per_image']:.2f}"),
        ("achieved GFLOP/s", f"{result['achieved_gflops_per_s']:.1f}"),
        ("fp32 matmul peak GFLOP/s", f"{result['matmul_peak_gflops_per_s']:.1f}"),
        ("share of fp32 matmul peak", f"{100 * result['share_of_matmul_peak']:.0f}%"),
        (f"{result['compute_dtype']} matmul peak GFLOP/s", f"{result['compute_dtype_matmul_peak_gflops_per_s']:.1f}"),
        (f"share of {result['compute_dtype']} matmul peak", f"{100 * result['share_of_compute_dtype_peak']:.0f}%"),
        ("peak host RSS (GiB)", f"{result['peak_rss_gib']:.2f}"),
    ]
    for row in result.get("inference", []):
        rows.append(
            (
                f"inference img/s, {row['model']}",
                f"{row['images_per_s']:.2f} ({1e3 * row['batch_latency_s']:.0f} ms/batch)",
            )
        )
    for row in result.get("profile", []):
        rows.append((f"profile: {row['op']}", f"{100 * row['share']:.1f}% of step time ({row['calls']} calls)"))
    for name, value in rows:
        table.add_row(name, value)
    stdout_console().print(table)


@one_line_config_errors
@hydra.main(version_base="1.3", config_path="../conf", config_name="benchmark.yaml")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    result = benchmark(cfg)
    print_table(result)
    path = Path(cfg.paths.output_dir) / "benchmark.json"
    write_json_atomically(path, result)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
