"""Bad input and configuration, one table: each is a short error naming the key or file, exit 1, no step trained.

Every row runs the real `python -m src.train` (three at a time: most of each run is Python starting up).
"""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import ROOT, TINY, TINY_REAL_DATA, TRAINED_RUN
from tests.fake_datasets import write_camvid

pytestmark = pytest.mark.slow


def camvid_with_a_bad_label(folder: Path) -> tuple[Path, Path]:
    """A CamVid copy whose second val label holds the value 99 (classes are 0..10, 11 ignored)."""
    root = write_camvid(folder, {"train": 4, "val": 2})
    label = sorted((root / "valannot").glob("*.png"))[1]
    values = np.array(Image.open(label))
    values[0, 0] = 99
    Image.fromarray(values).save(label)
    return root, label


def test_bad_inputs_each_end_in_one_line_naming_the_key_or_file_and_train_nothing(tmp_path, data_cache, trained_run):
    ckpt = trained_run / "checkpoints" / "last.ckpt"
    text_file = tmp_path / "notes.ckpt"
    text_file.write_text("not a checkpoint\n")
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(ckpt.read_bytes()[:5000])
    code_in_it = tmp_path / "runs_code.ckpt"
    torch.save({"state_dict": {}, "payload": os.system}, code_in_it)  # a pickle that names a function to call
    camvid, bad_label = camvid_with_a_bad_label(tmp_path / "camvid")
    camvid_args = [*TINY_REAL_DATA, "data=camvid", f"data.root={camvid}", "data.size=[36,48]", "data.batch_size=2"]
    missing = tmp_path / "nowhere"
    label_line = f"DataError: {bad_label}: label values [99] outside this dataset's classes; expected 0..10 or 11"

    table = [  # (what, arguments, the line expected at the end of stderr)
        ("unknown model", [*TINY, "model=resnet"], "Could not find 'model/resnet'"),
        ("unknown data", [*TINY, "data=imagenet"], "Could not find 'data/imagenet'"),
        ("unknown key", [*TINY, "model.net.widht=8"], "Could not override 'model.net.widht'."),
        ("more GPUs than present", [*TINY, "trainer.gpus=4"], "ConfigError: trainer.gpus=4 but this machine has"),
        ("checkpoint file missing", [*TINY, f"ckpt_path={missing}.ckpt"], f"ckpt_path={missing}.ckpt: no such file"),
        ("not a checkpoint", [*TINY, f"ckpt_path={text_file}"], f"ckpt_path={text_file}: not a readable checkpoint"),
        ("truncated checkpoint", [*TINY, f"ckpt_path={truncated}"], f"ckpt_path={truncated}: not a readable"),
        ("checkpoint with code", [*TINY, f"ckpt_path={code_in_it}"], "Weights only load failed"),
        (
            "checkpoint of other classes",
            [*TRAINED_RUN, f"ckpt_path={ckpt}", "data.label_mode=trainIds"],
            "ConfigError: ckpt_path: the checkpoint was trained for 34 classes but data.num_classes is 19",
        ),
        (
            "checkpoint of another width",
            [*TINY, f"ckpt_path={ckpt}"],
            "ConfigError: ckpt_path: the checkpoint's net.",
        ),
        (
            "data.root missing",
            [*TINY_REAL_DATA, "data=cityscapes", f"data.root={missing}"],
            f"no folder {missing}/leftImg8bit/train",
        ),
        ("data.root not given", [*TINY_REAL_DATA, "data=camvid"], "ConfigError: data.root is required"),
        ("bad label, found caching", [*camvid_args, f"paths.data_dir={tmp_path / 'caching'}"], label_line),
        (
            "bad label, found in a loader worker",
            [*camvid_args, "data.cache=false", "data.num_workers=2", f"paths.data_dir={tmp_path / 'worker'}"],
            label_line,
        ),
        ("label_mode typo", [*TINY, "data.label_mode=trainid"], "data.label_mode must be labelIds or trainIds"),
        (
            "num_workers not a number",
            [*TINY, "data.num_workers=many"],
            "data.num_workers must be a number >= 0 or auto",
        ),
        (
            "device_resident without cache",
            [*TINY, "data.device_resident=true", "data.cache=false"],
            "data.device_resident=true serves the cached arrays",
        ),
    ]

    def run(row: tuple[str, list[str], str]) -> tuple[str, subprocess.CompletedProcess, Path]:
        what, args, _ = row
        run_dir = tmp_path / "runs" / "".join(c if c.isalnum() else "_" for c in what)
        data_dir = [] if any(a.startswith("paths.data_dir=") for a in args) else [f"paths.data_dir={data_cache}"]
        cmd = [sys.executable, "-m", "src.train", *args, *data_dir, f"hydra.run.dir={run_dir}"]
        return what, subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300), run_dir

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(run, table))
    failures = []
    for (what, proc, run_dir), (_, _, line) in zip(results, table, strict=True):
        lines = proc.stderr.strip().splitlines() or [""]
        # The project's own errors are the last line; Hydra's (unknown group option or key) are its short report.
        own = line.split(":")[0] in ("ConfigError", "DataError") or line.startswith("ckpt_path") or "Weights" in line
        seen = line in lines[-1] if own else line in proc.stderr and len(lines) < 20
        if proc.returncode != 1 or not seen or "Traceback" in proc.stderr:
            failures.append(f"{what}: exit {proc.returncode}, expected {line!r}\n{proc.stderr[-1500:]}")
        if (run_dir / "checkpoints").exists() or (run_dir / "csv" / "metrics.csv").exists():
            failures.append(f"{what}: training started")  # (loggers may have written the config before fit)
        print(f"{what}: {(lines[-1] if own else next(x for x in lines if line in x) if seen else lines[-1])[-150:]}")
    assert not failures, "\n\n".join(failures)
    stderr = {what: proc.stderr for what, proc, _ in results}
    assert "expected <root>/leftImg8bit/<split>/<city>/<name>_leftImg8bit.png" in stderr["data.root missing"]
    for folder in ("caching", "worker"):  # the bad file stopped the cache build: no cache of that split is trusted
        assert not list((tmp_path / folder / "cache").glob("camvid_val_*"))
