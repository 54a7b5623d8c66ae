"""`python -m src.benchmark`: every measurement present, consistent and positive (speed is never asserted here)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from src.training.benchmark.raw_loop import training_loss
from tests.helpers import TINY, compose_tiny, run_module

pytestmark = pytest.mark.slow


def test_benchmark_writes_a_consistent_report(tmp_path: Path, data_cache: Path):
    tiny = [o for o in TINY if not o.startswith("trainer.limit")]
    args = [*tiny, "data.num_workers=auto", f"paths.data_dir={data_cache}", f"hydra.run.dir={tmp_path}"]
    args += ["bench.steps=2", "bench.warmup=1", "bench.rounds=2", "bench.pipeline_batches=3", "bench.matmul_size=256"]
    proc = run_module("src.benchmark", args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Lightning / raw" in proc.stdout and "input pipeline img/s" in proc.stdout  # the printed table
    r = json.loads((tmp_path / "benchmark.json").read_text())
    rounds = r["train_images_per_s_rounds"]
    assert {len(v) for v in rounds.values()} == {2} and all(x > 0 for v in rounds.values() for x in v)
    ips = r["train_images_per_s"]
    assert r["lightning_vs_raw"] == pytest.approx(ips["lightning"] / ips["raw_loop"])
    pairs = sorted(lt / raw for lt, raw in zip(rounds["lightning"], rounds["raw_loop"], strict=True))
    assert r["lightning_vs_raw_paired_median"] == pytest.approx((pairs[0] + pairs[1]) / 2)  # median of two
    extra_ms = 1e3 * r["batch_size"] * (1 / ips["lightning"] - 1 / ips["raw_loop"])
    assert r["lightning_extra_ms_per_step"] == pytest.approx(extra_ms)
    assert r["num_workers"] == 0 and r["device_resident"] is False  # auto resolved: CPU training from the cache
    assert r["pipeline_vs_training"] == pytest.approx(r["pipeline_images_per_s"] / ips["lightning"])
    # Width 4, depth 2, 64x128: a few hundredths of a GFLOP per image, forward and backward.
    assert 0.01 < r["train_gflops_per_image"] < 1
    assert r["achieved_gflops_per_s"] == pytest.approx(r["train_gflops_per_image"] * ips["lightning"])
    assert r["matmul_peak_gflops_per_s"] > 0 and 0 < r["share_of_matmul_peak"] < 10
    assert 0.1 < r["peak_rss_gib"] < 24
    assert [row["model"] for row in r["inference"]] == ["UNet", "UNet++ L1", "UNet++ L2", "UNet++ accurate (2 heads)"]
    gflops = [row["gflops"] for row in r["inference"][1:3]]
    assert gflops[0] < gflops[1]  # pruning to L1 computes less than L2


@pytest.mark.parametrize(
    "overrides",
    [[], ["model=unetpp", "model.net.deep_supervision=true", "model/loss=ce_dice"]],
    ids=["unet_ce", "unetpp_deep_supervision_ce_dice"],
)
def test_raw_loop_trains_on_the_modules_own_loss(tmp_path: Path, data_cache: Path, overrides: list[str]):
    """The raw loop's loss is the module's training_step loss (deep supervision, class weights, Dice included)."""
    cfg = compose_tiny(tmp_path, data_cache, overrides)
    module = instantiate(cfg.model).train()
    module.objective.set_class_counts(np.arange(1, cfg.data.num_classes + 1))  # as setup does from the train split
    torch.manual_seed(0)
    images, labels = torch.randn(2, 3, 64, 128), torch.randint(0, cfg.data.num_classes, (2, 64, 128))
    assert isinstance(module(images), list) == ("model.net.deep_supervision=true" in overrides)  # one loss per head
    torch.manual_seed(1)  # the same dropout masks for both forward passes
    raw = training_loss(module, module(images), labels)
    torch.manual_seed(1)
    assert raw.item() == pytest.approx(module.training_step((images, labels), 0).item())
