"""Every value a user can set, checked before any work: one ConfigError naming the key, the value and what is allowed.

Three layers, all before data is read or a network built:
- ranges the hints cannot say (a positive batch size, a probability): RANGES in src/cli/config_ranges.py;
- keys: each `_target_` node may hold only its constructor's arguments (unknown keys get the closest one), and
  types: each value against its constructor's own type hint (pydantic), so config and code cannot disagree;
- relations between keys (`depth` against `data.size`): `check_relations`.
Not Hydra structured configs: OmegaConf 2.3 has no union types (num_workers: auto|int, val_check_interval:
int|float|null, max_time: str|dict), no ranges, and a dataclass per option would repeat every YAML file's keys.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import re
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hydra.utils import get_object
from lightning.pytorch import Trainer
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationToMissingValueError
from pydantic import ConfigDict, TypeAdapter, ValidationError

from src.cli.config_ranges import RANGES, is_int
from src.core.errors import ConfigError

HYDRA_KEYS = {"_target_", "_partial_", "_convert_", "_recursive_", "_args_"}
TRAINER = "src.training.trainer.build_trainer"
KWARGS_GO_TO = {TRAINER: Trainer}  # targets whose **kwargs one callable takes
# Plain dicts the code unpacks into a function: their keys are that function's arguments.
DICT_GOES_TO = {"data.augment": "src.data.transforms.train_transform"}
ALIASES = {"width": "base_channels", "epochs": "max_epochs", "workers": "num_workers", "classes": "num_classes"}


def closest(key: str, known: typing.Iterable[str]) -> str | None:
    """The known key most like `key` (a typo's likely intent, `widht` -> `base_channels`), or None."""
    name = key.rpartition(".")[2]
    names = {str(k).rpartition(".")[2]: str(k) for k in known}
    words = names | {alias: names[real] for alias, real in ALIASES.items() if real in names}
    close = difflib.get_close_matches(name, list(words), n=1, cutoff=0.6)
    return words[close[0]] if close else None


# ---- keys and types, from each target's signature ------------------------------------------------------------


def signature_chain(target: str) -> list[Callable]:
    """The callables whose arguments `target` accepts: a class's __init__ and, while they pass **kwargs on, its
    bases'; build_trainer's and then the Trainer's."""
    obj = get_object(target)
    if target in KWARGS_GO_TO:
        return [obj, KWARGS_GO_TO[target].__init__]
    return [c.__init__ for c in inspect.getmro(obj) if "__init__" in vars(c)] if inspect.isclass(obj) else [obj]


@functools.cache
def accepted_arguments(target: str) -> tuple[dict[str, Any], bool]:
    """({argument: type hint or None}, complete): what `target` takes; not complete when **kwargs go unknown."""
    arguments: dict[str, Any] = {}
    for function in signature_chain(target):
        try:
            hints = typing.get_type_hints(function)
        except Exception:  # a hint naming something not importable here: check the key, not its type
            hints = {}
        parameters = inspect.signature(function).parameters.values()
        for p in parameters:
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in ("self", "cls"):
                arguments.setdefault(p.name, hints.get(p.name))
        if not any(p.kind == p.VAR_KEYWORD for p in parameters):
            return arguments, True
    return arguments, False


@functools.cache
def type_adapter(hint: Any) -> TypeAdapter | None:
    try:
        return TypeAdapter(hint, config=ConfigDict(arbitrary_types_allowed=True))
    except Exception:  # a hint pydantic cannot express: left to the constructor
        return None


def hint_words(hint: Any) -> str:
    return inspect.formatannotation(hint).replace("typing.", "").replace("collections.abc.", "")


def check_target_node(path: str, node: dict) -> None:
    """Unknown keys (with the closest known one) and values of the wrong type, for one `_target_` node."""
    target = node["_target_"]
    try:
        arguments, complete = accepted_arguments(target)
    except Exception as err:  # hydra would fail the same way at instantiate, later
        raise ConfigError(f"{path}._target_={target}: cannot import it ({err})") from err
    name = KWARGS_GO_TO[target].__name__ if target in KWARGS_GO_TO else target.rsplit(".", 1)[-1]
    for key, value in node.items():
        if key in HYDRA_KEYS:
            continue
        full = f"{path}.{key}"
        if key not in arguments:
            if complete:
                close = closest(full, (f"{path}.{a}" for a in arguments))
                hint = f"; did you mean {close}?" if close else f" (it takes: {', '.join(arguments)})"
                raise ConfigError(f"{full} is not a setting of {name}{hint}")
            continue
        hint = arguments[key]
        if hint is None or (isinstance(value, dict) and "_target_" in value):
            continue
        adapter = type_adapter(hint)
        if adapter is None:
            continue
        try:
            adapter.validate_python(value)
        except ValidationError:
            raise ConfigError(f"{full}={value!r}: {name} expects {hint_words(hint)}") from None


def target_nodes(node: Any, path: str = "") -> Iterator[tuple[str, dict]]:
    """Every (dotted path, node) holding a `_target_`, outermost first."""
    if isinstance(node, dict):
        if "_target_" in node:
            yield path, node
        for key, value in node.items():
            yield from target_nodes(value, f"{path}.{key}" if path else str(key))


def lookup(config: dict, key: str) -> tuple[bool, Any]:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


# ---- relations between keys ----------------------------------------------------------------------------------


def check_relations(config: dict) -> None:
    """Values that are each fine alone but not together."""
    if config.get("train") is False and not config.get("ckpt_path"):
        raise ConfigError("train=false tests a trained model: give it with ckpt_path=<file.ckpt>")
    if config.get("resume") and config.get("ckpt_path") not in (None, "last"):
        raise ConfigError(
            f"resume=true continues an earlier run's last.ckpt; drop it or ckpt_path={config['ckpt_path']}"
        )
    _, size = lookup(config, "data.size")
    found, depth = lookup(config, "model.net.depth")
    if found and isinstance(size, list) and is_int(depth):
        deepest = min(size).bit_length() - 1  # the most halvings that leave at least one pixel
        if depth > deepest:
            raise ConfigError(
                f"model.net.depth={depth}: at most {deepest} for data.size={size}; each level halves the input,"
                f" and {min(size)} pixels survive {deepest} halvings, not {depth}"
            )
    _, max_epochs = lookup(config, "trainer.max_epochs")
    _, min_epochs = lookup(config, "trainer.min_epochs")
    if is_int(max_epochs) and max_epochs >= 1 and is_int(min_epochs) and min_epochs > max_epochs:
        raise ConfigError(f"trainer.min_epochs={min_epochs} is more than trainer.max_epochs={max_epochs}")
    found, in_channels = lookup(config, "model.net.in_channels")
    for key in ("data.mean", "data.std"):
        present, values = lookup(config, key)
        if found and present and isinstance(values, list) and len(values) != in_channels:
            raise ConfigError(
                f"{key} has {len(values)} values but model.net.in_channels={in_channels}: one per input channel"
            )


@functools.cache
def top_level_keys() -> frozenset[str]:
    """The keys `python -m src.train` composes at the top: conf/train.yaml's own and its groups'."""
    entry = OmegaConf.load(Path(__file__).resolve().parents[2] / "conf" / "train.yaml")
    groups = {next(iter(d)) for d in entry.get("defaults", []) if isinstance(d, DictConfig)}
    return frozenset({str(k) for k in entry if k != "defaults"} | groups)


def check_top_level(config: dict) -> None:
    """A top-level key added with `+` that nothing reads (`+epochs=3`) would be ignored without a word."""
    for key in config:
        if key not in top_level_keys():
            close = closest(key, top_level_keys() | {f"trainer.{k}" for k in accepted_arguments(TRAINER)[0]})
            hint = f"; did you mean {close}?" if close else f" (its keys: {', '.join(sorted(top_level_keys()))})"
            raise ConfigError(f"{key} is not a key of this config{hint}")


def check_config(cfg: DictConfig) -> None:
    """Raise one ConfigError for the first value that cannot work; nothing is read, built or written."""
    try:
        config = OmegaConf.to_container(cfg, resolve=True)
    except InterpolationToMissingValueError as err:  # a key left at ??? that another key refers to
        missing = re.search(r"Missing mandatory value: (\S+)", str(err))
        key = missing.group(1) if missing else err.full_key
        raise ConfigError(f"{key} is required: set it on the command line, e.g. {key}=...") from None
    check_top_level(config)
    for key, allowed in RANGES.items():
        found, value = lookup(config, key)
        if found and not allowed.test(value):
            raise ConfigError(f"{key} must be {allowed.words}; got {value!r}")
    for path, node in target_nodes({k: v for k, v in config.items() if k != "hydra"}):
        check_target_node(path, node)
    for path, target in DICT_GOES_TO.items():
        found, node = lookup(config, path)
        if found and isinstance(node, dict):
            check_target_node(path, {"_target_": target, **node})
    check_relations(config)
