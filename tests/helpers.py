"""What the tests share: the real train config composed and shrunk (tiny net, tiny data, CPU, tmp folders), and
the CLI run as a user runs it. Fixtures built on these are in conftest.py."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import random
import re
import runpy
import signal
import subprocess
import sys
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

import src  # noqa: F401 - registers the resolvers the configs use
from src.cli import run_folder_on_error

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


def run_in_process(module: str, args: list[str]) -> subprocess.CompletedProcess:
    """`python -m <module> <args>` run inside this process: the same entry (`hydra.main`, the one-line error
    decorators, Hydra's logging to stderr) without the ~6 s of imports a new Python pays before it reads its first
    argument. For runs refused for bad input, and runs whose process is not what a test checks; each tool keeps
    real-process tests of its work, exit status and stderr through run_module. Returns the exit status, stdout and
    stderr as run_module does; an uncaught error is printed as Python prints it (a traceback, status 1). What a
    run changes process-wide is put back afterwards."""
    out, err = io.StringIO(), io.StringIO()
    with process_state_restored(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        os.chdir(ROOT)
        sys.argv = [module, *args]  # runpy sets argv[0] to the module's file, as `python -m` does
        GlobalHydra.instance().clear()
        # runpy's warning when a test has imported the module already
        warnings.filterwarnings("ignore", re.escape(f"'{module}' found in sys.modules"), RuntimeWarning)
        # src/__init__.py's filter, which pytest's per-test warning filters replace
        warnings.filterwarnings(
            "ignore", message=r"\s*'hydra/launcher/submitit_slurm' is validated against ConfigStore"
        )
        try:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 1
            if not isinstance(stop.code, int | None):
                print(stop.code, file=sys.stderr)
        except Exception:
            traceback.print_exc()
            code = 1
    return subprocess.CompletedProcess([sys.executable, "-m", module, *args], code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def process_state_restored() -> Iterator[None]:
    """Put back what a run in this process changes: argv, environment, working directory, logging, Hydra's
    singletons, the refused-run folder record, random states, signal handlers, warning filters."""
    argv, environ, cwd = sys.argv[:], dict(os.environ), os.getcwd()
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    logger_state = [(lg, lg.handlers[:], lg.level, lg.propagate, lg.disabled) for lg in loggers]
    hydra_config = HydraConfig.instance().cfg
    created = run_folder_on_error.CREATED_BY_THIS_LAUNCH[:]
    rngs = random.getstate(), np.random.get_state(), torch.get_rng_state()
    signals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)}
    threads = torch.get_num_threads()
    try:
        with warnings.catch_warnings():
            yield
    finally:
        kept = {id(h) for _, handlers, *_ in logger_state for h in handlers}
        for lg in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
            for handler in [h for h in getattr(lg, "handlers", []) if id(h) not in kept]:
                handler.close()  # Hydra's console and run-log handlers of that run
                lg.removeHandler(handler)
        for lg, handlers, level, propagate, disabled in logger_state:
            lg.handlers[:], lg.propagate, lg.disabled = handlers, propagate, disabled
            lg.setLevel(level)  # and clears the loggers' cached levels
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = hydra_config
        run_folder_on_error.CREATED_BY_THIS_LAUNCH[:] = created
        random.setstate(rngs[0])
        np.random.set_state(rngs[1])
        torch.set_rng_state(rngs[2])
        for signum, handler in signals.items():
            signal.signal(signum, handler)
        torch.set_num_threads(threads)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(environ)
        sys.argv = argv


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
