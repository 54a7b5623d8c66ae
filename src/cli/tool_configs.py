"""The types of the tool configs' own keys (conf/eval.yaml, predict, export, benchmark, model_table, check_data,
gpu_check).

Each tool yaml lists its schema in its defaults list right before `_self_` (`- eval_schema`), so Hydra refuses
a value of the wrong type while composing (`mc_samples=abc`, `batch_size=1.5`, `size=[1.5,2]`), naming the key,
before the tool starts. The values, their defaults and their comments stay in the yaml: every field here is
`???` (MISSING) until the yaml sets it. Ranges and choices (`split=test|val`, `alpha` in [0, 1]) stay the tools'
checks: OmegaConf types hold no ranges.

The groups a tool composes (paths, data, hydra) keep their own keys, untyped here. The root stays open
(struct=False while composing) so that `+model=...` still composes and eval, predict and export can say why
the checkpoint decides the model; Hydra closes it after composing, so `mc_sampels=3` is still refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf


@dataclass
class ToolConfig:
    task_name: str = MISSING  # names the run folder and its log file


@dataclass
class CheckpointToolConfig(ToolConfig):
    ckpt_path: str | None = MISSING


@dataclass
class EvalConfig(CheckpointToolConfig):
    split: str = MISSING
    mc_samples: int = MISSING
    ece_bins: int = MISSING
    prune_level: int | None = MISSING
    ds_mode: str | None = MISSING
    accelerator: str = MISSING
    precision: Any = MISSING  # Lightning's int | str (32, "bf16-mixed", ...): no union types in OmegaConf 2.3


@dataclass
class PredictConfig(CheckpointToolConfig):
    input: str | None = MISSING
    mc_samples: int = MISSING
    size: list[int] | None = MISSING
    alpha: float = MISSING
    prune_level: int | None = MISSING
    ds_mode: str | None = MISSING
    device: str = MISSING


@dataclass
class ExportConfig(CheckpointToolConfig):
    format: str = MISSING
    prune_level: int | None = MISSING
    ds_mode: str | None = MISSING
    batch_size: int = MISSING
    atol: float = MISSING
    opset: int = MISSING
    output: str | None = MISSING


@dataclass
class ModelTableConfig(ToolConfig):
    num_classes: int = MISSING
    base_channels: int = MISSING
    depth: int = MISSING
    head_channels: int | None = MISSING
    size: list[int] = MISSING
    batch_size: int = MISSING
    rounds: int = MISSING
    warmup: int = MISSING
    channels_last: bool = MISSING
    threads: int | None = MISSING
    readme: str | None = MISSING


@dataclass
class CheckDataConfig(ToolConfig):
    max_batches: int | None = MISSING


@dataclass
class GpuCheckConfig(ToolConfig):
    device: str = MISSING
    parts: list[str] | None = MISSING
    target_test_miou: float = MISSING
    eval_tolerance: float = MISSING
    predict_images: int = MISSING
    training_overrides: list[str] = MISSING
    extra_overrides: list[str] = MISSING
    benchmark_overrides: list[str] = MISSING
    limits_s: dict[str, float] = MISSING


@dataclass
class BenchSettings:
    """`bench.*` of conf/benchmark.yaml; the rest of that config is conf/train.yaml, untyped as in training."""

    steps: int = MISSING
    warmup: int = MISSING
    rounds: int = MISSING
    pipeline_batches: int = MISSING
    inference: bool = MISSING
    inference_batches: int = MISSING
    matmul_size: int = MISSING
    profile_rows: int = MISSING


ROOT_SCHEMAS = {
    "eval_schema": EvalConfig,
    "predict_schema": PredictConfig,
    "export_schema": ExportConfig,
    "model_table_schema": ModelTableConfig,
    "check_data_schema": CheckDataConfig,
    "gpu_check_schema": GpuCheckConfig,
}


def register_tool_schemas() -> None:
    """Put the schemas in Hydra's ConfigStore, where the tool yamls' defaults lists find them; safe to repeat."""
    store = ConfigStore.instance()
    for name, schema in ROOT_SCHEMAS.items():
        store.store(name=name, node=OmegaConf.structured(schema, flags={"struct": False}))
    store.store(name="benchmark_schema", node=BenchSettings, package="bench")
