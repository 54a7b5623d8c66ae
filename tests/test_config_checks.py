"""Every settable value is checked before any work: each kind of bad value gives one line naming key and value,
and no shipped preset trips a check (a check that refuses a working config is a bug too)."""

from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra

from src.cli.config_checks import check_config, closest
from src.core.errors import ConfigError
from tests.helpers import ROOT, TINY, compose_tiny

BAD = [  # (overrides, the error's exact start); one row per kind of check
    (["model.net.depth=9"], "model.net.depth=9: at most 6 for data.size=[64, 128]; each level halves the input"),
    (["data.batch_size=0"], "data.batch_size must be a positive integer; got 0"),
    (["data.batch_size=2.5"], "data.batch_size must be a positive integer; got 2.5"),
    (["data.cache=maybe"], "data.cache='maybe': SyntheticStreetsDataModule expects bool"),
    (["data.label_mode=trainid"], "data.label_mode must be labelIds or trainIds; got 'trainid'"),
    (["data.num_workers=many"], "data.num_workers must be auto or an integer >= 0; got 'many'"),
    (["data.num_workers=-1"], "data.num_workers must be auto or an integer >= 0; got -1"),
    (["data.size=[64]"], "data.size must be [height, width], two positive integers; got [64]"),
    (["data.std=[0.2,0,0.2]"], "data.std must be numbers > 0; got [0.2, 0, 0.2]"),
    (["data.mean=[0.5,0.5]"], "data.mean has 2 values but model.net.in_channels=3: one per input channel"),
    (["data.augment.hflip=1.5"], "data.augment.hflip must be a probability from 0 to 1; got 1.5"),
    (["data.sizes.train=0"], "data.sizes.train must be a positive integer; got 0"),
    (["model.net.base_channels=abc"], "model.net.base_channels must be a positive integer; got 'abc'"),
    (["model.net.dropout_mode=3"], "model.net.dropout_mode=3: UNet expects str"),
    (["model.net.base_channels=0"], "model.net.base_channels must be a positive integer; got 0"),
    (["model.net.dropout=[0.2,1.0]"], "model.net.dropout must be two probabilities in [0, 1)"),
    (["model.optimizer.lr=0"], "model.optimizer.lr must be a number > 0; got 0"),
    (["model.optimizer.weight_decay=-0.1"], "model.optimizer.weight_decay must be a number >= 0; got -0.1"),
    (["model/loss=ohem", "model.loss.ohem_fraction=0"], "model.loss.ohem_fraction must be a fraction in (0, 1]"),
    (["trainer.max_epochs=0"], "trainer.max_epochs must be -1 (no limit) or >= 1; got 0"),
    (["trainer.min_epochs=5"], "trainer.min_epochs=5 is more than trainer.max_epochs=2"),
    (["trainer.max_time=20min"], 'trainer.max_time must be null, "DD:HH:MM:SS" (e.g. "00:00:20:00" for 20 minutes'),
    (["trainer.limit_train_batches=1.5"], "trainer.limit_train_batches must be null, a number of batches >= 0"),
    (["trainer.val_check_interval=0"], "trainer.val_check_interval must be null, a number of train batches >= 1"),
    (["trainer.accumulate_grad_batches=0"], "trainer.accumulate_grad_batches must be a positive integer; got 0"),
    (["trainer.precision=33"], "trainer.precision=33: Trainer expects"),
    (["+trainer.max_epoch=1"], "trainer.max_epoch is not a setting of Trainer; did you mean trainer.max_epochs?"),
    (["+model.net.widht=8"], "model.net.widht is not a setting of UNet; did you mean model.net.base_channels?"),
    (["+model.optimizer.lrr=0.1"], "model.optimizer.lrr is not a setting of Adam; did you mean model.optimizer.lr?"),
    (["+epochs=3"], "epochs is not a key of this config; did you mean trainer.max_epochs?"),
    (["+data.augment.rotate=0.1"], "data.augment.rotate is not a setting of train_transform (it takes: size,"),
    (["trainer.max_time={hourz: 1}"], 'trainer.max_time must be null, "DD:HH:MM:SS"'),
    (["+data.zzz=1"], "data.zzz is not a setting of SyntheticStreetsDataModule (it takes: root,"),
    (["callbacks.validation_predictions.num_samples=-1"], "callbacks.validation_predictions.num_samples must be"),
]


@pytest.fixture
def compose(tmp_path: Path, data_cache: Path):
    yield lambda overrides, base=TINY: compose_tiny(tmp_path, data_cache, overrides, base=base)
    GlobalHydra.instance().clear()


@pytest.mark.parametrize(("overrides", "line"), BAD, ids=[" ".join(o) for o, _ in BAD])
def test_a_bad_value_is_one_config_error_naming_key_value_and_what_is_allowed(compose, overrides, line):
    with pytest.raises(ConfigError) as raised:
        check_config(compose(overrides))
    message = str(raised.value)
    assert message.startswith(line)
    assert "\n" not in message


PRESETS = [  # every option of every group, and every preset, as users compose them
    *[[f"experiment={p.stem}"] for p in sorted((ROOT / "conf" / "experiment").glob("*.yaml"))],
    *[[f"model={p.stem}"] for p in sorted((ROOT / "conf" / "model").glob("*.yaml"))],
    *[[f"trainer={p.stem}"] for p in sorted((ROOT / "conf" / "trainer").glob("*.yaml"))],
    *[[f"debug={p.stem}"] for p in sorted((ROOT / "conf" / "debug").glob("*.yaml"))],
    *[[f"model/loss={p.stem}"] for p in sorted((ROOT / "conf" / "model" / "loss").glob("*.yaml"))],
    *[[f"model/scheduler={p.stem}"] for p in sorted((ROOT / "conf" / "model" / "scheduler").glob("*.yaml"))],
    *[[f"data/augment={p.stem}"] for p in sorted((ROOT / "conf" / "data" / "augment").glob("*.yaml"))],
    ["model/optimizer=adamw"],
    ["hparams_search=optuna"],
    ["data=camvid"],
    ["data=cityscapes"],
    ["data=folder", "data.class_names=[a,b]"],
    ["model=unetpp", "model.net.deep_supervision=true", "model.net.ds_weights=[1,2,3,4]"],
    ["trainer.max_time=00:00:20:00", "trainer.limit_train_batches=0.5", "trainer.gpus=0"],
    ["trainer.max_time=00:00:120:00", "trainer.val_check_interval=00:00:10:00", "trainer.devices='0,1'"],
    ["trainer.max_time={minutes: 90}", "trainer.val_check_interval={seconds: 30}", "trainer.devices=[0,1]"],
]


@pytest.mark.parametrize("overrides", PRESETS, ids=[" ".join(o) for o in PRESETS])
def test_every_shipped_preset_passes_the_checks(compose, overrides):
    root = ["data.root=/somewhere"] if any(o.startswith(("experiment=camvid", "data=")) for o in overrides) else []
    check_config(compose([*overrides, *root], base=[]))


def test_a_typo_is_matched_to_the_key_meant_and_aliases_map_common_words():
    assert closest("trainer.max_epoch", ["trainer.max_epochs", "trainer.min_epochs"]) == "trainer.max_epochs"
    assert closest("model.net.widht", ["model.net.base_channels", "model.net.depth"]) == "model.net.base_channels"
    assert closest("unetp", ["unet", "unetpp", "colour_baseline"]) == "unetpp"
    assert closest("model.net.zebra", ["model.net.depth"]) is None


@pytest.mark.parametrize(
    ("tool", "override", "line"),
    [
        ("eval", "mc_samples=abc", "ConfigError: mc_samples=abc: Value 'abc' of type 'str' could not be converted"),
        ("model_table", "batch_size=1.5", "ConfigError: batch_size=1.5: Value '1.5' of type 'float' could not be"),
    ],
)
def test_a_tool_value_of_the_wrong_type_is_one_line_naming_it(tool: str, override: str, line: str) -> None:
    from hydra import compose, initialize
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import ConfigCompositionException

    from src.cli.composition_errors import composition_error_line

    GlobalHydra.instance().clear()
    with initialize(version_base="1.3", config_path="../conf"), pytest.raises(ConfigCompositionException) as err:
        compose(config_name=f"{tool}.yaml", overrides=[override])
    assert composition_error_line(err.value).startswith(line)
