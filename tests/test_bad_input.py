"""Bad input and configuration: each is a short error naming the key or file, exit 1, no step trained.

Two tables. The CLI table runs the `python -m src.train` entry for each kind of error rendering (Hydra's own
report, a ConfigError, a checkpoint error, an error raised inside a DataLoader worker, a required key left
unset): exit status 1, the line at the end of stderr, no traceback. A row runs in this process (the whole entry,
hydra.main and all, without Python's start-up: tests/helpers.py `run_in_process`) unless it needs a real process:
the DataLoader worker's error, and one composition error, run as real `python -m src.train` processes. The
in-process table calls `train(cfg)` for the other inputs and checks the line `user_error_line` makes of the
error, the same function the CLI prints with.
"""

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from subprocess import PIPE

import numpy as np
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from PIL import Image

from src.cli.exit_on_user_error import user_error_line
from src.cli.run_folder_on_error import CREATED_BY_THIS_LAUNCH, settle_failed_run_folder
from src.core.errors import ConfigError
from src.inference.trained_run import load_trained_run
from src.train import train
from tests.fake_datasets import write_camvid
from tests.helpers import ROOT, TINY, TINY_REAL_DATA, TRAINED_RUN, compose_tiny, run_in_process

pytestmark = pytest.mark.slow


def run_rows(
    tmp_path: Path, rows: list[tuple[str, str, list[str]]], in_real_process: set[str]
) -> list[tuple[str, subprocess.CompletedProcess, Path]]:
    """(what, result, run folder) of `python -m <module> <args> hydra.run.dir=<tmp_path/runs/what>` for each
    (module, what, args): the rows named in `in_real_process` as real processes, started first and running while
    the others run in this process."""

    def run_dir(what: str) -> Path:
        return tmp_path / "runs" / "".join(c if c.isalnum() else "_" for c in what)

    def arguments(what: str, args: list[str]) -> list[str]:
        return [*args, f"hydra.run.dir={run_dir(what)}"]

    with ThreadPoolExecutor(len(in_real_process)) as pool:
        started = {  # started here, before an in-process row changes this process's environment
            what: subprocess.Popen(
                [sys.executable, "-m", module, *arguments(what, args)], cwd=ROOT, stdout=PIPE, stderr=PIPE, text=True
            )
            for module, what, args in rows
            if what in in_real_process
        }
        finished = {what: pool.submit(proc.communicate, timeout=300) for what, proc in started.items()}
        results = {
            what: run_in_process(module, arguments(what, args)) for module, what, args in rows if what not in started
        }
        for what, proc in started.items():
            out, err = finished[what].result()
            results[what] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return [(what, results[what], run_dir(what)) for _, what, _ in rows]


def camvid_with_a_bad_label(folder: Path) -> tuple[Path, Path]:
    """A CamVid copy whose second val label holds the value 99 (classes are 0..10, 11 ignored)."""
    root = write_camvid(folder, {"train": 4, "val": 2})
    label = sorted((root / "valannot").glob("*.png"))[1]
    values = np.array(Image.open(label))
    values[0, 0] = 99
    Image.fromarray(values).save(label)
    return root, label


def camvid_args(root: Path) -> list[str]:
    return ["data=camvid", f"data.root={root}", "data.size=[36,48]", "data.batch_size=2"]


def label_line(label: Path) -> str:
    return f"DataError: {label}: label values [99] outside this dataset's classes; expected 0..10 or 11"


def training_started(run_dir: Path) -> bool:
    """A checkpoint or a metrics row on disk (loggers may have written the config before fit)."""
    return (run_dir / "checkpoints").exists() or (run_dir / "csv" / "metrics.csv").exists()


def test_cli_errors_end_in_one_line_exit_1_without_a_traceback_and_train_nothing(tmp_path, data_cache):
    code_in_it = tmp_path / "runs_code.ckpt"
    torch.save({"state_dict": {}, "payload": os.system}, code_in_it)  # a pickle that names a function to call
    camvid, bad_label = camvid_with_a_bad_label(tmp_path / "camvid")
    table = [  # (what, arguments, the line expected in stderr)
        (
            "unknown model",
            [*TINY, "model=resnet"],
            "ConfigError: model=resnet: no such option; options: colour_baseline, unet, unetpp;"
            " did you mean model=unet?",
        ),
        (
            "unknown data",
            [*TINY, "data=imagenet"],
            "ConfigError: data=imagenet: no such option; options: camvid, cityscapes, folder, synthetic",
        ),
        (
            "unknown key",
            [*TINY, "model.net.widht=8"],
            "ConfigError: model.net.widht is not a key of this config; did you mean model.net.base_channels?",
        ),
        ("more GPUs than present", [*TINY, "trainer.gpus=4"], "ConfigError: trainer.gpus=4 but this machine has"),
        ("checkpoint with code", [*TINY, f"ckpt_path={code_in_it}"], "Weights only load failed"),
        ("data.root not given", [*TINY_REAL_DATA, "data=camvid"], "ConfigError: data.root is required"),
        (
            "bad label, found in a loader worker",
            [*TINY_REAL_DATA, *camvid_args(camvid), "data.cache=false", "data.num_workers=2"],
            label_line(bad_label),
        ),
    ]

    # A worker's traceback would reach the real process's stderr, not this process's: that row runs for real.
    in_real_process = {"bad label, found in a loader worker"}
    results = run_rows(
        tmp_path,
        [("src.train", what, [*args, f"paths.data_dir={data_cache}"]) for what, args, _ in table],
        in_real_process,
    )
    failures = []
    for (what, proc, run_dir), (_, _, line) in zip(results, table, strict=True):
        lines = proc.stderr.strip().splitlines() or [""]
        seen = line in lines[-1]
        if proc.returncode != 1 or not seen or "Traceback" in proc.stderr:
            failures.append(f"{what}: exit {proc.returncode}, expected {line!r}\n{proc.stderr[-1500:]}")
        if training_started(run_dir):
            failures.append(f"{what}: training started")
        if run_dir.exists():  # Hydra's refusals come before the folder; the others remove what they made
            failures.append(f"{what}: left {run_dir} behind: {sorted(p.name for p in run_dir.iterdir())}")
        print(f"{what}: {lines[-1][-150:]}")
    assert not failures, "\n\n".join(failures)


def in_process_rows(tmp_path: Path, trained_run: Path) -> list[tuple[str, list[str], list[str], str]]:
    """(what, base overrides, overrides, the start of the expected line); files made in tmp_path."""
    ckpt = trained_run / "checkpoints" / "last.ckpt"
    text_file = tmp_path / "notes.ckpt"
    text_file.write_text("not a checkpoint\n")
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(ckpt.read_bytes()[:5000])
    camvid, bad_label = camvid_with_a_bad_label(tmp_path / "camvid")
    missing = tmp_path / "nowhere"
    return [
        (
            "checkpoint file missing",
            TINY,
            [f"ckpt_path={missing}.ckpt"],
            f"ConfigError: ckpt_path={missing}.ckpt: no such file",
        ),
        (
            "not a checkpoint",
            TINY,
            [f"ckpt_path={text_file}"],
            f"ConfigError: ckpt_path={text_file}: not a readable checkpoint",
        ),
        (
            "truncated checkpoint",
            TINY,
            [f"ckpt_path={truncated}"],
            f"ConfigError: ckpt_path={truncated}: not a readable",
        ),
        (
            "checkpoint of other classes",
            TRAINED_RUN,
            [f"ckpt_path={ckpt}", "data.label_mode=trainIds"],
            "ConfigError: ckpt_path: the checkpoint was trained for 34 classes but data.num_classes is 19",
        ),
        (
            "checkpoint of another width",
            TINY,
            [f"ckpt_path={ckpt}"],
            "ConfigError: ckpt_path: the checkpoint is a UNet (model=unet model.net.base_channels=8"
            " model.net.depth=2), but this config builds"
            " a UNet (model=unet model.net.base_channels=4 model.net.depth=2)",
        ),
        (
            "data.root missing",
            TINY_REAL_DATA,
            ["data=cityscapes", f"data.root={missing}"],
            f"MissingDataError: no folder {missing}/leftImg8bit/train",
        ),
        ("bad label, found caching", TINY_REAL_DATA, camvid_args(camvid), label_line(bad_label)),
        (
            "label_mode typo",
            TINY,
            ["data.label_mode=trainid"],
            "ConfigError: data.label_mode must be labelIds or trainIds; got 'trainid'",
        ),
        (
            "num_workers not a number",
            TINY,
            ["data.num_workers=many"],
            "ConfigError: data.num_workers must be auto or an integer >= 0",
        ),
        (
            "device_resident without cache",
            TINY,
            ["data.device_resident=true", "data.cache=false"],
            "ConfigError: data.device_resident=true serves the cached arrays",
        ),
    ]


def test_resume_with_nothing_to_resume_ends_in_one_line(tmp_path):
    """The run and sweep folders are resolved before the job starts: their resolvers' errors are one line too."""
    logs = tmp_path / "logs"
    for args, line in (
        (["resume=true"], f"ConfigError: resume: no earlier run in {logs}/<date>/<time>/ with the overrides"),
        (["-m", "resume=true"], f"ConfigError: resume: no earlier sweep in {logs}/multirun/<date>/<time>/"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "src.train", *args, f"paths.log_dir={logs}"],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert proc.stderr.strip().splitlines()[-1].startswith(line)
        assert not logs.exists()


def test_other_bad_inputs_raise_an_error_whose_line_names_the_key_or_file_and_train_nothing(
    tmp_path, data_cache, trained_run
):
    failures, lines = [], {}
    for what, base, overrides, line in in_process_rows(tmp_path, trained_run):
        name = "".join(c if c.isalnum() else "_" for c in what)
        run_dir, data_dir = tmp_path / "runs" / name, tmp_path / "data" / name if base is TINY_REAL_DATA else data_cache
        cfg = compose_tiny(run_dir, data_dir, overrides, base=base)
        try:
            train(cfg)
            failures.append(f"{what}: no error raised")
            continue
        except Exception as err:  # the row checks which line the CLI would print for it
            got = user_error_line(err)
        finally:
            GlobalHydra.instance().clear()
        if got is None or not got.startswith(line):
            failures.append(f"{what}: expected a line starting {line!r}, got {got!r}")
        if training_started(run_dir):
            failures.append(f"{what}: training started")
        lines[what] = got
        print(f"{what}: {got}")
    assert not failures, "\n\n".join(failures)
    assert "expected <root>/leftImg8bit/<split>/<city>/<name>_leftImg8bit.png" in lines["data.root missing"]
    caches = list((tmp_path / "data" / "bad_label__found_caching" / "cache").glob("camvid_val_*"))
    assert not caches  # the bad file stopped the cache build: no cache of that split is trusted


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime in ns) of every file under `folder`: what "nothing on disk changed" compares."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    }


def test_first_contact_mistakes_end_in_one_line_before_any_work_and_change_nothing_on_disk(
    tmp_path, data_cache, trained_run
):
    """The rows of issue 17's table, through the real CLIs: a checkpoint of the wrong model for train and eval,
    a depth the input cannot hold, a zero batch, a misspelt key with and without `+`."""
    ckpt = trained_run / "checkpoints" / "last.ckpt"
    unet = "a UNet (model=unet model.net.base_channels=8 model.net.depth=2)"
    from_ckpt = f"ConfigError: model: the network is the one the checkpoint was trained as (ckpt_path={ckpt} is {unet})"
    table = [  # (what, module, arguments, the last line's start)
        ("depth too deep", "src.train", [*TINY, "model.net.depth=9"], "ConfigError: model.net.depth=9: at most 6"),
        ("zero batch", "src.train", [*TINY, "data.batch_size=0"], "ConfigError: data.batch_size must be a positive"),
        (
            "typo",
            "src.train",
            [*TINY, "trainer.max_epoch=1"],
            "ConfigError: trainer.max_epoch is not a key of this config; did you mean trainer.max_epochs?",
        ),
        (
            "typo with +",
            "src.train",
            [*TINY, "+trainer.max_epoch=1"],
            "ConfigError: trainer.max_epoch is not a setting of Trainer; did you mean trainer.max_epochs?",
        ),
        (
            "UNet checkpoint, UNet++ config",
            "src.train",
            [*TRAINED_RUN, "train=false", f"ckpt_path={ckpt}", "model=unetpp"],
            f"ConfigError: ckpt_path: the checkpoint is {unet}, but this config builds a UNet++"
            f" (model=unetpp model.net.base_channels=8",
        ),
        ("eval model=", "src.eval", [f"ckpt_path={ckpt}", "model=unetpp"], from_ckpt),
        ("eval +model=", "src.eval", [f"ckpt_path={ckpt}", "+model=unetpp"], from_ckpt),
        ("predict model.net", "src.predict", [f"ckpt_path={ckpt}", "input=x.png", "model.net.depth=3"], from_ckpt),
    ]
    before = snapshot(trained_run)
    rows = [(module, what, [*args, f"paths.data_dir={data_cache}"]) for what, module, args, _ in table]
    results = run_rows(tmp_path, rows, in_real_process={"typo"})  # one composition error through a real process
    failures = []
    for (what, _, _, line), (_, proc, _) in zip(table, results, strict=True):
        last = (proc.stderr.strip().splitlines() or [""])[-1]
        if proc.returncode != 1 or line not in last or "Traceback" in proc.stderr:
            failures.append(f"{what}: exit {proc.returncode}, expected {line!r}\n{proc.stderr[-1500:]}")
        print(f"{what}: {last[-160:]}")
        if (tmp_path / "runs" / "".join(c if c.isalnum() else "_" for c in what)).exists():
            failures.append(f"{what}: left its empty run folder behind")
    assert not failures, "\n\n".join(failures)
    assert snapshot(trained_run) == before  # the checkpoint and everything beside it untouched


def test_a_refused_run_keeps_a_folder_that_was_there_or_holds_results_and_says_so(tmp_path, data_cache):
    existing = tmp_path / "mine"
    (existing / "notes").mkdir(parents=True)
    (existing / "notes" / "todo.txt").write_text("keep me")
    args = [*TINY, "data.batch_size=0", f"paths.data_dir={data_cache}", f"hydra.run.dir={existing}"]
    proc = subprocess.run([sys.executable, "-m", "src.train", *args], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1 and "ConfigError: data.batch_size must be a positive integer" in proc.stderr
    assert f"kept the run folder {existing}: it holds notes" in proc.stderr.strip().splitlines()[-2]
    assert (existing / "notes" / "todo.txt").read_text() == "keep me"

    made = tmp_path / "made"  # what a refused run makes: config, log, hyperparameters; plus a checkpoint
    for name in (".hydra/config.yaml", "train.log", "csv/hparams.yaml", "tensorboard/events.out.tfevents.1"):
        (made / name).parent.mkdir(parents=True, exist_ok=True)
        (made / name).write_text("x")
    CREATED_BY_THIS_LAUNCH[:] = [made, tmp_path]
    (made / "checkpoints").mkdir()
    (made / "checkpoints" / "last.ckpt").write_text("x")
    assert settle_failed_run_folder(made) == f"kept the run folder {made}: it holds checkpoints"
    (made / "checkpoints" / "last.ckpt").unlink()
    (made / "checkpoints").rmdir()
    assert settle_failed_run_folder(made).startswith(f"removed the run folder {made}: it held only the config")
    assert not made.exists() and tmp_path.is_dir()  # tmp_path held `mine`: not empty, so kept


def test_eval_predict_export_name_both_networks_when_a_checkpoint_does_not_fit_its_run_config(tmp_path, trained_run):
    """A UNet checkpoint in a run folder whose config says UNet++ (a file copied into the wrong run)."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(trained_run / "checkpoints" / "last.ckpt", run / "checkpoints" / "last.ckpt")
    shutil.copytree(trained_run / ".hydra", run / ".hydra")
    config = OmegaConf.load(run / ".hydra" / "config.yaml")
    config.model.net._target_ = "src.models.nested_unet.NestedUNet"
    config.model.net.deep_supervision = True
    OmegaConf.save(config, run / ".hydra" / "config.yaml")
    ckpt = run / "checkpoints" / "last.ckpt"
    paths = OmegaConf.create(OmegaConf.to_container(config.paths))
    with pytest.raises(ConfigError) as raised:
        load_trained_run(str(ckpt), paths)
    assert str(raised.value) == (
        f"ckpt_path={ckpt} is a UNet (model=unet model.net.base_channels=8 model.net.depth=2), but its run's config"
        f" {run / '.hydra' / 'config.yaml'} builds a UNet++ (model=unetpp model.net.base_channels=8"
        f" model.net.depth=2 model.net.deep_supervision=true)"
    )
