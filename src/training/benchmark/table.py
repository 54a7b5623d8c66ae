"""benchmark.json as the one table `python -m src.benchmark` prints."""

from __future__ import annotations

from rich.table import Table

from src.core.console import stdout_console


def table_rows(result: dict) -> list[tuple[str, str]]:
    """(measure, value) for every measurement in `result`, formatted to the precision its noise allows."""
    ips = result["train_images_per_s"]
    dtype = result["compute_dtype"]
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
        (f"{dtype} matmul peak GFLOP/s", f"{result['compute_dtype_matmul_peak_gflops_per_s']:.1f}"),
        (f"share of {dtype} matmul peak", f"{100 * result['share_of_compute_dtype_peak']:.0f}%"),
        ("peak host RSS (GiB)", f"{result['peak_rss_gib']:.2f}"),
    ]
    for row in result.get("inference", []):
        latency = f"{1e3 * row['batch_latency_s']:.0f} ms/batch"
        rows.append((f"inference img/s, {row['model']}", f"{row['images_per_s']:.2f} ({latency})"))
    for row in result.get("profile", []):
        rows.append((f"profile: {row['op']}", f"{100 * row['share']:.1f}% of step time ({row['calls']} calls)"))
    return rows


def print_benchmark_table(result: dict) -> None:
    """The table of every measurement, titled with the model, its width and the device."""
    table = Table(title=f"benchmark: {result['model']} width {result['width']}, {result['device']}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in table_rows(result):
        table.add_row(name, value)
    stdout_console().print(table)
