"""Print the composed config as a tree at start, so every run shows exactly what it ran with."""

from __future__ import annotations

from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from rich.syntax import Syntax
from rich.tree import Tree

from src.core.console import stdout_console

ORDER = ("data", "model", "callbacks", "logger", "trainer", "paths")


@rank_zero_only
def print_config_tree(cfg: DictConfig) -> None:
    """Render each top-level group as a branch of YAML; the groups of ORDER come first."""
    tree = Tree("config", style="bold")
    for key in sorted(cfg.keys(), key=lambda k: (ORDER.index(k) if k in ORDER else len(ORDER), str(k))):
        value = cfg[key]
        text = OmegaConf.to_yaml(value, resolve=True) if isinstance(value, DictConfig) else str(value)
        tree.add(str(key), style="yellow").add(Syntax(text, "yaml", theme="ansi_dark"))
    stdout_console().print(tree)
