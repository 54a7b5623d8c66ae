"""How checkpoints reach the disk and come back: never half-written, loaded without unpickling code.

Lightning's TorchCheckpointIO writes through an fsspec transaction, which for a local path means a temporary
file in the system temp folder (often another filesystem) moved into place by `shutil.move`: a copy, not a
rename, and never fsynced. A SIGKILL or power cut during that copy leaves a truncated `last.ckpt`.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from src.core.errors import ConfigError, OutputError

log = logging.getLogger(__name__)
SPACE_ERRORS = {errno.ENOSPC, errno.EDQUOT}
PARTIAL_PREFIX = ".partial-checkpoint-"  # + "<pid>": not *.ckpt, never named last*, so never taken for a checkpoint


def is_local(path: str | Path) -> bool:
    return "://" not in str(path) or str(path).startswith("file://")


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_abandoned_partials(folder: Path) -> None:
    """Delete temporary files left by killed writers (their process is gone); a live writer's file stays."""
    for partial in folder.glob(f"{PARTIAL_PREFIX}*"):
        pid = partial.name.removeprefix(PARTIAL_PREFIX)
        if not pid.isdigit() or not process_alive(int(pid)):
            partial.unlink(missing_ok=True)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint to a temporary file beside it, fsync it, rename it over the old one, fsync the folder.

    At every moment the path holds either the previous complete checkpoint or the new complete one. A failed
    write (disk full, folder not writable) removes its temporary file, leaves every earlier checkpoint as it
    was, and raises one OutputError naming the file; temporary files of killed writers are removed by the next
    save into that folder. Under DDP only rank 0 writes. Remote paths (s3://, ...) go to Lightning's writer.
    Loading always uses `weights_only=True`, whatever the caller asks: the project's checkpoints hold only
    tensors and plain values, so no file the user names can run code when read.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        if not is_local(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        path = Path(str(path).removeprefix("file://"))
        tmp = path.parent / f"{PARTIAL_PREFIX}{os.getpid()}"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            remove_abandoned_partials(path.parent)
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except torch.OutOfMemoryError:
            raise
        except (OSError, RuntimeError) as err:  # torch.save reports some failed writes as RuntimeError
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err).splitlines()[0]
            hint = "free space there" if getattr(err, "errno", None) in SPACE_ERRORS else "check the folder"
            raise OutputError(
                f"cannot write checkpoint {path}: {reason}; earlier checkpoints there are intact"
                f" ({hint}, or set paths.log_dir / hydra.run.dir elsewhere)"
            ) from err
        finally:
            tmp.unlink(missing_ok=True)  # gone already after a successful rename
        try:
            folder = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)  # the rename itself survives a power cut
            finally:
                os.close(folder)
        except OSError as err:
            log.warning(f"wrote {path}, but could not fsync its folder ({err.strerror}): a power cut may lose it")

    def load_checkpoint(
        self, path: str | Path, map_location: Callable | None = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        if is_local(path) and not Path(str(path).removeprefix("file://")).is_file():
            raise ConfigError(f"ckpt_path={path}: no such file")
        try:
            checkpoint = super().load_checkpoint(path, map_location=map_location or "cpu", weights_only=True)
        except (MemoryError, torch.OutOfMemoryError):
            raise
        except Exception as err:  # a truncated file, a text file, a pickle with code in it: one line
            raise ConfigError(
                f"ckpt_path={path}: not a readable checkpoint ({type(err).__name__}: {str(err).splitlines()[0]})"
            ) from err
        if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
            raise ConfigError(f"ckpt_path={path}: no state_dict in it; expected a checkpoint written by src.train")
        return checkpoint
