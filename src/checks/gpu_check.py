"""Run the GPU check's parts in order, each under its own time limit, and keep gpu_check.json current after every
part, so a GPU window that closes mid-check still leaves what was measured."""

from __future__ import annotations

import datetime
import logging
import shlex
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import torch
from omegaconf import DictConfig

from src.checks.environment import environment
from src.checks.part_process import run_part
from src.checks.parts import PARTS, Context, Part
from src.core.atomic_files import write_json_atomically
from src.core.errors import ConfigError

log = logging.getLogger(__name__)


def check_settings(cfg: DictConfig) -> None:
    """Refuse, by key, a device or a part name the check does not have (a misspelt part would skip silently)."""
    if cfg.device not in ("cuda", "cpu"):
        raise ConfigError(f"device must be cuda (the check) or cpu (its rehearsal), got {cfg.device!r}")
    names = [part.name for part in PARTS]
    unknown = sorted(set(cfg.parts or []) - set(names))
    if unknown:
        raise ConfigError(f"parts: no part named {', '.join(unknown)}; the parts are {', '.join(names)}")


def skip_reason(part: Part, ctx: Context) -> str | None:
    """Why `part` does not run here, or None: not selected, no CUDA, or the part it needs did not pass."""
    if ctx.cfg.parts is not None and part.name not in ctx.cfg.parts:
        return f"skipped: not selected (parts={list(ctx.cfg.parts)})"
    needs_cuda = part.cuda == "always" or (part.cuda == "in_check" and ctx.cfg.device == "cuda")
    if needs_cuda and not torch.cuda.is_available():
        return "skipped: no CUDA"
    if part.after and ctx.results[part.after]["status"] != "passed":
        return f"skipped: {part.after} did not pass"
    return None


def run_one(part: Part, ctx: Context) -> dict:
    """Run `part` and judge it: passed, or failed with why (exit status, time limit, a figure off target)."""
    limit = float(ctx.cfg.limits_s[part.name])
    try:
        args = part.args(ctx)
    except (OSError, KeyError, ValueError) as err:  # e.g. its input could not be written
        return {"status": f"failed: could not start ({type(err).__name__}: {err})"}
    finished = run_part(args, ctx.folder(part.name), limit)
    record = {"seconds": round(finished.seconds, 1), "command": shlex.join(["python", *args])}
    if finished.returncode is None:
        return record | {"status": f"failed: over {limit:g} s (killed)"}
    if finished.returncode != part.exit_status:
        return record | {"status": f"failed: exit {finished.returncode}", "error": finished.last_error}
    try:
        figures = part.figures(ctx)
    except (OSError, KeyError, TypeError, ValueError, ET.ParseError) as err:
        return record | {"status": f"failed: its results could not be read ({type(err).__name__}: {err})"}
    problem = figures.pop("problem", None)
    return record | {"status": f"failed: {problem}" if problem else "passed", "figures": figures}


def summary(ctx: Context, started: float, env: dict) -> dict:
    """What gpu_check.json holds so far: the parts by outcome, the environment, and each part's record."""
    statuses = {name: result["status"] for name, result in ctx.results.items()}
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "device": ctx.cfg.device,
        "seconds": round(time.perf_counter() - started, 1),
        "passed": [name for name, status in statuses.items() if status == "passed"],
        "failed": [name for name, status in statuses.items() if status.startswith("failed")],
        "skipped": [name for name, status in statuses.items() if status.startswith("skipped")],
        "environment": env,
        "parts": ctx.results,
    }


def run_gpu_check(cfg: DictConfig) -> dict:
    """Every part in order; returns what gpu_check.json holds (rewritten after each part)."""
    check_settings(cfg)
    started = time.perf_counter()
    ctx = Context(cfg, Path(cfg.paths.output_dir))
    env = environment()
    gpus = ", ".join(gpu["name"] for gpu in env["gpus"]) or "none"
    log.info("torch %s, CUDA %s, GPUs: %s; parts run on %s", env["torch"], env["cuda"], gpus, cfg.device)
    for number, part in enumerate(PARTS, 1):
        reason = skip_reason(part, ctx)
        if reason is None:
            log.info("[%d/%d] %s: %s ...", number, len(PARTS), part.name, part.what)
        result = {"status": reason} if reason else run_one(part, ctx)
        ctx.results[part.name] = {"what": part.what, **result}
        log.info("[%d/%d] %s: %s%s", number, len(PARTS), part.name, result["status"], described(result))
        report = summary(ctx, started, env)
        write_json_atomically(ctx.out / "gpu_check.json", report)
    return report


def described(result: dict) -> str:
    """The part's time, figures and error, as the readable tail of its log line."""
    bits = [f"{result['seconds']:.0f} s"] if "seconds" in result else []
    for key, value in result.get("figures", {}).items():
        if not isinstance(value, dict):
            bits.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    if result.get("error"):
        bits.append(f"error: {result['error']}")
    return f" ({'; '.join(bits)})" if bits else ""
