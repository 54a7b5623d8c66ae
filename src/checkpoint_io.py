"""How checkpoints reach the disk and come back: never half-written, loaded without unpickling code.

Lightning's TorchCheckpointIO writes through an fsspec transaction, which for a local path means a temporary
file in the system temp folder (often another filesystem) moved into place by `shutil.move`: a copy, not a
rename, and never fsynced. A SIGKILL or power cut during that copy leaves a truncated `last.ckpt`.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from src.errors import ConfigError, OutputError

SPACE_ERRORS = {errno.ENOSPC, errno.EDQUOT}
PARTIAL_PREFIX = ".partial-checkpoint-"  # not *.ckpt, never named last*: nothing ever takes it for a checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint to a temporary file beside it, fsync it, rename it over the old one, fsync the folder.

    At every moment the path holds either the previous complete checkpoint or the new complete one. A failed
    write (disk full, folder not writable) removes its temporary file, leaves every earlier checkpoint as it
    was, and raises one OutputError naming the file; the temporary file of a killed write is removed by the next
    save into that folder (one run per checkpoint folder; under DDP only rank 0 writes).
    Loading always uses `weights_only=True`: the project's checkpoints hold only tensors and plain values, so no
    file the user names can run code when read.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        path = Path(path)
        tmp = path.parent / f"{PARTIAL_PREFIX}{os.getpid()}"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            for stale in path.parent.glob(f"{PARTIAL_PREFIX}*"):  # left by a killed write
                stale.unlink(missing_ok=True)
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            folder = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)  # the rename itself survives a power cut
            finally:
                os.close(folder)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            hint = "free space there" if err.errno in SPACE_ERRORS else "make it writable"
            raise OutputError(
                f"cannot write checkpoint {path}: {err.strerror or err}; earlier checkpoints there are intact"
                f" ({hint}, or set paths.log_dir / hydra.run.dir elsewhere)"
            ) from err

    def load_checkpoint(
        self, path: str | Path, map_location: Callable | None = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        if not Path(path).is_file():
            raise ConfigError(f"ckpt_path={path}: no such file")
        try:
            checkpoint = super().load_checkpoint(path, map_location=map_location or "cpu", weights_only=True)
        except Exception as err:  # a truncated file, a text file, a pickle with code in it: one line
            raise ConfigError(
                f"ckpt_path={path}: not a readable checkpoint ({type(err).__name__}: {str(err).splitlines()[0]})"
            ) from err
        if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
            raise ConfigError(f"ckpt_path={path}: no state_dict in it; expected a checkpoint written by src.train")
        return checkpoint
