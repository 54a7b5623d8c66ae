"""What the tests share: the real train config composed and shrunk (tiny net, tiny data, CPU, tmp folders), and
the CLI run as a user runs it. Fixtures built on these are in conftest.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

import src  # noqa: F401 - registers the resolvers the configs use

ROOT = Path(__file__).resolve().parents[1]

# Small enough that a whole fit + test takes seconds on 2 cores.
TINY = [
    "trainer=cpu",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.enable_progress_bar=false",
    "callbacks.rich_progress_bar=null",
    "callbacks.rich_model_summary=null",
    "model.net.base_channels=4",
    "model.net.depth=2",
    "data.sizes.train=8",
    "data.sizes.val=4",
    "data.sizes.test=4",
    "data.size=[64,128]",
    "data.batch_size=4",
    "data.num_workers=0",
    "print_config=false",
]


def compose_train(overrides: list[str] | None = None) -> DictConfig:
    """The real train config with `overrides`, composed as `python -m src.train` would."""
    GlobalHydra.instance().clear()
    with initialize(version_base="1.3", config_path="../conf"):
        return compose(config_name="train.yaml", return_hydra_config=True, overrides=overrides or [])


# TINY without the synthetic generator's sizes, for real datasets (which have no data.sizes).
TINY_REAL_DATA = [o for o in TINY if not o.startswith(("data.sizes", "data.size="))]


def compose_tiny(
    output_dir: Path, data_dir: Path, overrides: list[str] | None = None, base: list[str] = TINY
) -> DictConfig:
    """The shrunk train config (base + `overrides`) writing into output_dir; HydraConfig is set for `${hydra:...}`."""
    cfg = compose_train([*base, *(overrides or [])])
    with open_dict(cfg):
        cfg.paths.root_dir = str(ROOT)
        cfg.paths.data_dir = str(data_dir)
        cfg.paths.output_dir = str(output_dir)
        cfg.hydra.runtime.output_dir = str(output_dir)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # as in a real run: the task's config does not carry Hydra's own node
    return cfg


def run_module(module: str, args: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    """`python -m <module> <args>` from the repository root, as a user runs it."""
    cmd = [sys.executable, "-m", module, *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


TRAINED_RUN = [  # the overrides of the `trained_run` fixture
    *TINY,
    "trainer.max_epochs=3",
    "trainer.limit_train_batches=6",
    "data.sizes.train=24",
    "model.net.base_channels=8",
    "model.net.head_channels=null",
    "model.optimizer.lr=0.01",
    "model.net.dropout=[0.1,0.2]",  # MC dropout needs dropout
]


# The trims in TINY that a user's run does not have: DDP and SLURM tests run without them, with the progress bar
# and model summary a user gets (a trimmed config once hid a DDP crash that every user hit).
USER_CALLBACK_TRIMS = ("trainer.enable_progress_bar=false", "callbacks.rich_progress_bar=null")
USER_CALLBACK_TRIMS += ("callbacks.rich_model_summary=null",)


def with_user_callbacks(overrides: list[str]) -> list[str]:
    """`overrides` less the callback trims: the default callbacks and loggers, as `python -m src.train` has them."""
    return [o for o in overrides if o not in USER_CALLBACK_TRIMS]
