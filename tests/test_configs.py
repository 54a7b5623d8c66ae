"""Every option of every config group composes, and every data/model option instantiates; the tools' configs
are typed and keep their run folders."""

import re
from dataclasses import fields
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import ValidationError

from src.cli.tool_configs import ROOT_SCHEMAS, BenchSettings
from tests.helpers import compose_train

CONF = Path(__file__).resolve().parents[1] / "conf"
GROUPS = [
    "data",
    "data/augment",
    "model",
    "model/optimizer",
    "model/scheduler",
    "model/loss",
    "trainer",
    "callbacks",
    "logger",
    "paths",
    "hydra",
    "experiment",
    "debug",
    "hparams_search",
    "hydra/launcher",
]
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))]
NEEDS = {
    ("data", "cityscapes"): ["data.root=/some/cityscapes"],
    ("data", "camvid"): ["data.root=/some/camvid"],
    ("data", "folder"): ["data.root=/some/folder", "data.class_names=[background,road]"],
    ("experiment", "camvid"): ["data.root=/some/camvid"],
    ("experiment", "camvid_unetpp"): ["data.root=/some/camvid"],
}
CAMVID_TRAIN_IMAGES = 367  # the SegNet release's train split


@pytest.mark.parametrize("preset", ["camvid", "camvid_unetpp"])
def test_camvid_presets_train_for_the_20_minute_budget_and_validate_where_they_stop(preset):
    cfg = compose_train([f"experiment={preset}", "data.root=/some/camvid"])
    assert cfg.trainer.max_time == "00:00:20:00" and list(cfg.data.size) == [192, 256]
    # Validation counted in steps (check_val_every_n_epoch null): the time budget's stop validates too, and so
    # would the end of max_epochs (the last partial batch of an epoch is dropped).
    steps = cfg.trainer.max_epochs * (CAMVID_TRAIN_IMAGES // cfg.data.batch_size)
    assert cfg.trainer.check_val_every_n_epoch is None and steps % cfg.trainer.val_check_interval == 0
    assert (
        cfg.model.scheduler._target_ == "src.training.schedules.warmup_cosine"
    )  # follows max_time (src/training/schedules.py)
    assert cfg.model.net._target_.endswith("NestedUNet" if preset == "camvid_unetpp" else ".UNet")


def test_every_group_has_options():
    assert {g for g, _ in OPTIONS} == set(GROUPS)


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes_and_resolves(group, option):
    cfg = compose_train([f"{group}={option}", *NEEDS.get((group, option), [])])
    with open_dict(cfg):
        cfg.hydra.runtime.cwd = "/repo"
        cfg.hydra.runtime.output_dir = "/repo/outputs/run"
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # Hydra's own node is resolved by Hydra, not by us
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    assert cfg.paths.output_dir == "/repo/outputs/run"


@pytest.mark.parametrize("model", [p.stem for p in sorted((CONF / "model").glob("*.yaml"))])
def test_model_options_instantiate_with_34_classes(model):
    cfg = compose_train([f"model={model}"])
    module = instantiate(cfg.model)
    assert module.hparams.num_classes == 34
    assert module.net(torch.zeros(1, 3, 32, 64)).shape == (1, 34, 32, 64)


def test_default_is_the_seed_configuration():
    cfg = compose_train()
    net = cfg.model.net
    assert (net.base_channels, net.depth, list(net.dropout), net.head_channels) == (64, 4, [0.2, 0.5], 3)
    assert list(cfg.data.size) == [128, 256] and cfg.data.num_classes == 34
    assert cfg.model.optimizer._target_ == "torch.optim.Adam"
    assert cfg.callbacks.model_checkpoint.monitor == "val/miou"


def test_colour_baseline_trains_exactly_like_quickstart():
    unet, colour = compose_train(["experiment=quickstart"]), compose_train(["experiment=colour_baseline"])
    assert unet.model.net._target_.endswith("UNet") and colour.model.net._target_.endswith("PixelClassifier")
    for key in ("data", "trainer", "model.optimizer", "model.scheduler", "callbacks", "seed"):
        assert OmegaConf.select(unet, key) == OmegaConf.select(colour, key), key


def test_unet_and_unetpp_configs_differ_only_where_the_networks_differ():
    unet, unetpp = compose_train(["model=unet"]).model, compose_train(["model=unetpp"]).model
    shared = {k: v for k, v in unetpp.net.items() if k in unet.net}
    assert set(unetpp.net) - set(unet.net) == {"deep_supervision", "ds_weights", "ds_mode", "prune_level"}
    assert {k for k in shared if shared[k] != unet.net[k]} == {"_target_"}
    for key in ("_target_", "optimizer", "scheduler", "num_classes", "ignore_index", "channels_last"):
        assert unetpp[key] == unet[key], key


def test_sweep_folder_resolves_before_any_job_starts():
    """Hydra's sweeper resolves hydra.sweep.dir before it sets HydraConfig: no ${hydra:...} may hide in it."""
    cfg = compose_train(["model=unet"])
    HydraConfig.instance().cfg = None  # as the sweeper sees it: nothing set yet
    assert str(cfg.hydra.sweep.dir).startswith("outputs/multirun/")


def test_every_model_trains_in_the_same_module():
    """model/common/default.yaml holds the module's settings once; each model only adds its net."""
    unet, colour = compose_train(["model=unet"]).model, compose_train(["model=colour_baseline"]).model
    assert {k: v for k, v in unet.items() if k != "net"} == {k: v for k, v in colour.items() if k != "net"}
    assert unet._target_ == "src.training.module.SegmentationModule" and list(unet)[-1] == "net"
    # the module's groups keep their names under the shared file
    cfg = compose_train(["model=colour_baseline", "model/optimizer=adamw", "~model/scheduler"])
    assert cfg.model.optimizer._target_ == "torch.optim.AdamW" and "scheduler" not in cfg.model


TOOLS = ["eval", "predict", "export", "benchmark", "model_table", "check_data", "gpu_check"]


def compose_tool(tool: str, overrides: list[str] | None = None) -> DictConfig:
    """conf/<tool>.yaml composed as `python -m src.<tool>` would."""
    GlobalHydra.instance().clear()
    with initialize(version_base="1.3", config_path="../conf"):
        return compose(config_name=f"{tool}.yaml", return_hydra_config=True, overrides=overrides or [])


@pytest.mark.parametrize("tool", TOOLS)
def test_each_tool_runs_in_a_folder_of_its_own(tool):
    """hydra/tool.yaml gives all seven the same pattern; each still writes to outputs/<tool>/<date>/<time>/."""
    cfg = compose_tool(tool)
    assert re.fullmatch(rf"outputs/{tool}/\d{{4}}-\d\d-\d\d/\d\d-\d\d-\d\d", cfg.hydra.run.dir), cfg.hydra.run.dir
    assert cfg.task_name == tool  # also names its log file (hydra/default.yaml)


@pytest.mark.parametrize("tool", [t for t in TOOLS if t != "benchmark"])
def test_each_tool_schema_types_exactly_the_keys_of_its_yaml(tool):
    """Every key conf/<tool>.yaml sets has a type in src/cli/tool_configs.py, and every typed key a value there."""
    own = {k for k in OmegaConf.load(CONF / f"{tool}.yaml") if k not in ("defaults", "hydra")}
    assert {f.name for f in fields(ROOT_SCHEMAS[f"{tool}_schema"])} == own
    cfg = compose_tool(tool)
    assert not [key for key in own if OmegaConf.is_missing(cfg, key)]  # each `???` of the schema got its value


def test_benchmark_schema_types_exactly_the_bench_keys():
    bench = OmegaConf.load(CONF / "benchmark.yaml").bench
    assert {f.name for f in fields(BenchSettings)} == set(bench)
    assert OmegaConf.to_container(compose_tool("benchmark").bench) == OmegaConf.to_container(bench)


WRONG_TYPES = [
    ("eval", "mc_samples=abc", "mc_samples"),
    ("eval", "ece_bins=1.5", "ece_bins"),
    ("eval", "prune_level=abc", "prune_level"),
    ("predict", "alpha=abc", "alpha"),
    ("predict", "size=[1.5,2]", "size[0]"),
    ("predict", "mc_samples=true", "mc_samples"),
    ("export", "batch_size=1.5", "batch_size"),
    ("export", "opset=abc", "opset"),
    ("export", "atol=abc", "atol"),
    ("model_table", "channels_last=abc", "channels_last"),
    ("model_table", "threads=abc", "threads"),
    ("model_table", "size=abc", "size"),
    ("check_data", "max_batches=abc", "max_batches"),
    ("gpu_check", "target_test_miou=abc", "target_test_miou"),
    ("gpu_check", "limits_s.training=abc", "limits_s.training"),
    ("benchmark", "bench.steps=abc", "bench.steps"),
    ("benchmark", "bench.inference=abc", "bench.inference"),
]


@pytest.mark.parametrize(("tool", "override", "key"), WRONG_TYPES, ids=[f"{t}:{o}" for t, o, _ in WRONG_TYPES])
def test_a_value_of_the_wrong_type_is_refused_while_composing(tool, override, key):
    with pytest.raises(ConfigCompositionException) as refused:
        compose_tool(tool, [override])
    assert isinstance(refused.value.__cause__, ValidationError) and refused.value.__cause__.full_key == key


def test_tool_configs_still_take_what_they_took():
    """Right types convert as before, null stays allowed where it was, and the groups keep their own keys."""
    assert compose_tool("eval", ["mc_samples=3", "precision=16", "data=synthetic"]).precision == 16
    assert compose_tool("predict", ["size=[64,128]", "alpha=1"]).alpha == 1.0
    assert compose_tool("model_table", ["threads=2", "head_channels=null"]).head_channels is None
    # `+model=` composes so that eval, predict and export can say the checkpoint decides the model ...
    assert "model" in compose_tool("eval", ["+model=unet"])
    # ... but the root is closed again after composing: a misspelt key is still refused
    with pytest.raises(ConfigCompositionException, match="Could not override 'mc_sample'"):
        compose_tool("eval", ["mc_sample=3"])
