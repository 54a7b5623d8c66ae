"""What each config value may be, where its type hint cannot say it (a positive batch size, a probability), in
the words the error uses: `must be <words>; got <value>` (src/cli/config_checks.py applies them)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from src.data.labels import CITYSCAPES_NUM_CLASSES

MAX_TIME = re.compile(r"^\d+:\d+:\d+:\d+$")  # Lightning's "DD:HH:MM:SS"
TIME_KEYS = {"days", "hours", "minutes", "seconds"}  # a max_time dict: timedelta's arguments


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@dataclass(frozen=True)
class Allowed:
    """A predicate on a value and the words for what it accepts."""

    test: Callable[[Any], bool]
    words: str


POSITIVE_INT = Allowed(lambda v: is_int(v) and v >= 1, "a positive integer")
NON_NEGATIVE_INT = Allowed(lambda v: is_int(v) and v >= 0, "an integer >= 0")
POSITIVE = Allowed(lambda v: is_number(v) and v > 0, "a number > 0")
NON_NEGATIVE = Allowed(lambda v: is_number(v) and v >= 0, "a number >= 0")
PROBABILITY = Allowed(lambda v: is_number(v) and 0 <= v <= 1, "a probability from 0 to 1")
SIZE = Allowed(lambda v: isinstance(v, list) and len(v) == 2 and all(is_int(n) and n > 0 for n in v),
               "[height, width], two positive integers")  # fmt: skip
BATCHES = Allowed(
    lambda v: v is None or (is_int(v) and v >= 0) or (isinstance(v, float) and 0 <= v <= 1),
    "null, a number of batches >= 0, or a fraction from 0.0 to 1.0",
)


def is_duration(v: Any) -> bool:
    return isinstance(v, dict) and bool(v) and set(v) <= TIME_KEYS and all(is_number(n) and n >= 0 for n in v.values())


def optional(allowed: Allowed) -> Allowed:
    return Allowed(lambda v: v is None or allowed.test(v), f"null or {allowed.words}")


RANGES: dict[str, Allowed] = {
    "seed": optional(NON_NEGATIVE_INT),
    "data.size": SIZE,
    "data.label_mode": Allowed(lambda v: v in CITYSCAPES_NUM_CLASSES, " or ".join(CITYSCAPES_NUM_CLASSES)),
    "data.batch_size": POSITIVE_INT,
    "data.num_workers": Allowed(lambda v: v == "auto" or (is_int(v) and v >= 0), "auto or an integer >= 0"),
    "data.std": Allowed(lambda v: isinstance(v, list) and all(is_number(s) and s > 0 for s in v), "numbers > 0"),
    "data.augment.hflip": PROBABILITY,
    "data.augment.jitter": Allowed(lambda v: is_number(v) and 0 <= v <= 1, "a strength from 0 to 1"),
    "data.augment.jitter_p": PROBABILITY,
    "data.sizes.train": POSITIVE_INT,
    "data.sizes.val": POSITIVE_INT,
    "data.sizes.test": NON_NEGATIVE_INT,
    "model.net.in_channels": POSITIVE_INT,
    "model.net.base_channels": POSITIVE_INT,
    "model.net.depth": POSITIVE_INT,
    "model.net.head_channels": optional(POSITIVE_INT),
    "model.net.dropout": Allowed(
        lambda v: isinstance(v, list) and len(v) == 2 and all(is_number(p) and 0 <= p < 1 for p in v),
        "two probabilities in [0, 1), after the first and the second conv of a block",
    ),
    "model.optimizer.lr": POSITIVE,
    "model.optimizer.weight_decay": NON_NEGATIVE,
    "model.loss.ce_weight": NON_NEGATIVE,
    "model.loss.dice_weight": NON_NEGATIVE,
    "model.loss.focal_gamma": NON_NEGATIVE,
    "model.loss.ohem_fraction": Allowed(lambda v: is_number(v) and 0 < v <= 1, "a fraction in (0, 1]"),
    "trainer.max_epochs": Allowed(lambda v: v is None or v == -1 or (is_int(v) and v >= 1), "-1 (no limit) or >= 1"),
    "trainer.min_epochs": optional(NON_NEGATIVE_INT),
    "trainer.max_steps": Allowed(lambda v: v == -1 or (is_int(v) and v >= 1), "-1 (no limit) or >= 1"),
    "trainer.max_time": Allowed(
        lambda v: v is None or (isinstance(v, str) and bool(MAX_TIME.match(v))) or is_duration(v),
        'null, "DD:HH:MM:SS" (e.g. "00:00:20:00" for 20 minutes, quoted) or {days, hours, minutes, seconds}',
    ),
    "trainer.limit_train_batches": BATCHES,
    "trainer.limit_val_batches": BATCHES,
    "trainer.limit_test_batches": BATCHES,
    "trainer.val_check_interval": Allowed(
        lambda v: (
            v is None
            or (is_int(v) and v >= 1)
            or (isinstance(v, float) and 0 < v <= 1)
            or (isinstance(v, str) and bool(MAX_TIME.match(v)))
            or is_duration(v)
        ),
        'null, a number of train batches >= 1, a fraction of an epoch in (0.0, 1.0], or a time ("DD:HH:MM:SS")',
    ),
    "trainer.check_val_every_n_epoch": optional(POSITIVE_INT),
    "trainer.log_every_n_steps": POSITIVE_INT,
    "trainer.accumulate_grad_batches": POSITIVE_INT,
    "trainer.gradient_clip_val": optional(NON_NEGATIVE),
    "trainer.num_nodes": POSITIVE_INT,
    "trainer.devices": Allowed(
        lambda v: (
            v == -1 or isinstance(v, str) or (is_int(v) and v >= 1) or (isinstance(v, list) and all(map(is_int, v)))
        ),
        "auto, -1 (all), a number of devices >= 1, or device indices (a list or a string such as '0,1')",
    ),
    "callbacks.validation_predictions.every_n_epochs": POSITIVE_INT,
    "callbacks.validation_predictions.num_samples": NON_NEGATIVE_INT,
    "callbacks.validation_predictions.mc_samples": NON_NEGATIVE_INT,
    "callbacks.stop_on_non_finite_loss.check_every_n_steps": POSITIVE_INT,
    "callbacks.stop_on_sigint.check_every_n_batches": POSITIVE_INT,
}
