"""Every option of every config group composes, and every data/model option instantiates."""

from pathlib import Path

import pytest
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict

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
