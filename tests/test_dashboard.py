"""What a finished run shows: TensorBoard over HTTP (scalars, image grids, hparams, charts), curves, grids."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from src.core.history import read_history


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def tensorboard_server(trained_run: Path, tmp_path: Path):
    """A real `tensorboard --logdir <run>` on localhost; yields its base URL once it has read the run."""
    port = free_port()
    cmd = [sys.executable, "-m", "tensorboard.main", "--logdir", str(trained_run), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--load_fast=false", "--reload_interval", "1"]
    log = tmp_path / "tensorboard.log"  # a file, not a pipe: a chatty server can never block on a full pipe
    with open(log, "w") as stderr:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if get_json(f"{base}/data/plugin/images/tags"):
                    break
            except OSError:
                pass
            assert proc.poll() is None, log.read_text()
            if time.monotonic() > deadline:
                pytest.fail(f"TensorBoard showed no images within 90 s:\n{log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_tensorboard_serves_scalars_images_hparams_and_charts(tensorboard_server: str, trained_run: Path):
    base = tensorboard_server
    scalar_tags = get_json(f"{base}/data/plugin/scalars/tags")["tensorboard"]
    for tag in ("train/loss", "train/acc", "val/loss", "val/acc", "val/miou", "val/miou_best", "lr-Adam", "test/miou"):
        assert tag in scalar_tags
    series = get_json(f"{base}/data/plugin/scalars/scalars?run=tensorboard&tag=val/loss")
    history = read_history(trained_run / "csv" / "metrics.csv")
    assert [round(v, 5) for _, _, v in series] == [round(h["val/loss"], 5) for h in history]  # one point per epoch
    assert len(series) == 3

    images = get_json(f"{base}/data/plugin/images/tags")["tensorboard"]
    assert "val/predictions" in images
    entries = get_json(f"{base}/data/plugin/images/images?run=tensorboard&tag=val/predictions&sample=0")
    assert len(entries) == 3  # every epoch
    with urllib.request.urlopen(f"{base}/data/plugin/images/individualImage?{entries[-1]['query']}") as response:
        assert response.read(8) == b"\x89PNG\r\n\x1a\n"

    experiment = get_json(f"{base}/data/plugin/hparams/experiment", {"experimentName": ""})
    hparams = {h["name"] for h in experiment["hparamInfos"]}
    assert {"model/net/base_channels", "model/optimizer/lr", "data/batch_size", "trainer/max_epochs"} <= hparams
    assert {m["name"]["tag"] for m in experiment["metricInfos"]} >= {"val/miou_best", "test/miou", "val/loss"}
    sessions = get_json(
        f"{base}/data/plugin/hparams/session_groups",
        {
            "experimentName": "",
            "allowedStatuses": ["STATUS_SUCCESS", "STATUS_UNKNOWN", "STATUS_RUNNING", "STATUS_FAILURE"],
            "colParams": [{"metric": {"tag": "val/loss"}}, {"hparam": "model/net/base_channels"}],
            "startIndex": 0,
            "sliceSize": 10,
        },
    )["sessionGroups"]
    (session,) = sessions
    assert session["hparams"]["model/net/base_channels"] == 8
    assert [s["status"] for s in session["sessions"]] == ["STATUS_SUCCESS"]  # written when the run ended
    final_val_loss = {m["name"]["tag"]: m["value"] for m in session["metricValues"]}["val/loss"]
    assert final_val_loss == pytest.approx(history[-1]["val/loss"], rel=1e-5)  # the final value, not a placeholder

    layout = get_json(f"{base}/data/plugin/custom_scalars/layout")
    charts = {c["title"]: c["multiline"]["tag"] for c in layout["category"][0]["chart"]}
    assert charts["loss"] == ["^train/loss$", "^val/loss$"]
    assert set(charts) == {"loss", "pixel accuracy", "mIoU"}


@pytest.mark.slow
def test_run_folder_has_curves_grids_and_history(trained_run: Path):
    for name in ("loss", "accuracy", "miou"):
        with Image.open(trained_run / "plots" / f"{name}.png") as image:
            assert image.width >= 600 and image.height >= 400
    grids = sorted((trained_run / "images").glob("val_epoch_*.png"))
    assert [g.name for g in grids] == ["val_epoch_000.png", "val_epoch_001.png", "val_epoch_002.png"]
    with Image.open(grids[-1]) as image:
        assert image.width > 1000  # four panels side by side
    metrics = json.loads((trained_run / "metrics.json").read_text())
    history = metrics["history"]
    assert [h["epoch"] for h in history] == [0, 1, 2]
    for entry in history:
        assert {"train/loss", "train/acc", "train/miou", "val/loss", "val/acc", "val/miou"} <= set(entry)
    best = max(history, key=lambda h: h["val/miou"])
    assert metrics["best_val"]["val/miou"] == pytest.approx(best["val/miou"])


def test_read_history_merges_rows_per_epoch_and_skips_test_rows(tmp_path: Path):
    """Train and val rows of an epoch merge; a re-run epoch (after a resume) keeps its last values."""
    metrics_csv = tmp_path / "metrics.csv"
    metrics_csv.write_text(
        "epoch,lr-Adam,step,train/loss,val/loss,val/miou,test/miou\n"
        ",0.002,0,,,,\n"  # learning rate, no epoch
        "0,,9,,1.5,0.2,\n"
        "0,,9,2.0,,,\n"
        "1,,19,,1.2,nan,\n"
        "1,,19,1.4,,,\n"
        "1,,19,,1.1,0.35,\n"  # epoch 1 again, after a resume
        "1,,19,1.3,,,\n"
        "0,,20,,,,0.3\n"  # the test of the best checkpoint, logged with its epoch
    )
    assert read_history(metrics_csv) == [
        {"epoch": 0, "val/loss": 1.5, "val/miou": 0.2, "train/loss": 2.0},
        {"epoch": 1, "val/loss": 1.1, "val/miou": 0.35, "train/loss": 1.3},
    ]
    assert read_history(tmp_path / "missing.csv") == []
