"""Fixtures over tests/helpers.py: one synthetic-data cache and one trained run per session, a shrunk config."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from tests.helpers import TRAINED_RUN, compose_tiny, run_module


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One synthetic-data cache for the session: generated once, reused by every test."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def cfg_tiny(tmp_path: Path, data_cache: Path) -> DictConfig:
    """A composed, shrunk train config writing into tmp_path."""
    yield compose_tiny(tmp_path, data_cache)
    GlobalHydra.instance().clear()


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory, data_cache: Path) -> Path:
    """One small run of the real CLI (3 epochs, a val image grid each epoch): the folder eval/predict/export read.

    Just large enough to learn something (test pixel accuracy ~0.2 rather than 0), so scores are not degenerate.
    """
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    proc = run_module("src.train", [*TRAINED_RUN, f"paths.data_dir={data_cache}", f"hydra.run.dir={run_dir}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir
