import json
import subprocess
import sys

import pytest
from hydra import compose, initialize
from hydra.core.global_hydra import GlobalHydra

from src.check_data import check_data
from tests.fake_datasets import write_camvid
from tests.helpers import ROOT, run_in_process


def compose_check(overrides):
    GlobalHydra.instance().clear()
    with initialize(version_base="1.3", config_path="../conf"):
        return compose(config_name="check_data.yaml", overrides=overrides)


def test_report_counts_splits_class_shares_and_both_loader_paths(tmp_path):
    root = write_camvid(tmp_path / "camvid", {"train": 6, "val": 2})
    data = ["data=camvid", f"data.root={root}", "data.size=[18,24]", "data.num_workers=0", "data.batch_size=2"]
    cfg = compose_check([*data, f"paths.data_dir={tmp_path}"])
    report = check_data(cfg)
    assert report["splits"] == {"train": 6, "val": 2}
    for shares in report["class_shares"].values():
        assert len(shares) == 12 and sum(shares) == pytest.approx(1, abs=1e-4)  # 11 classes + ignored
        assert shares[-1] > 0  # the fake labels use 11 (unlabelled), which is ignored
    epoch = report["train_epoch"]
    assert epoch["images"] == 6 and epoch["cached_seconds"] > 0 and epoch["decoding_seconds"] > 0
    (meta,) = (tmp_path / "cache").glob("camvid_train_*/meta.json")
    built = meta.stat().st_mtime_ns
    check_data(cfg)
    assert meta.stat().st_mtime_ns == built  # the second run reads the cache it checked


@pytest.mark.slow
def test_cli_writes_the_report_and_bad_data_is_one_line(tmp_path):
    root = write_camvid(tmp_path / "camvid", {"train": 4, "val": 2})
    args = ["data=camvid", f"data.root={root}", "data.size=[18,24]", "data.num_workers=0", "data.batch_size=2"]
    args.append(f"paths.data_dir={tmp_path}")
    cmd = [sys.executable, "-m", "src.check_data", *args, f"hydra.run.dir={tmp_path / 'run'}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Pixel share per class" in proc.stdout and "pedestrian" in proc.stdout
    assert json.loads((tmp_path / "run" / "data_report.json").read_text())["splits"] == {"train": 4, "val": 2}

    (root / "val" / sorted(p.name for p in (root / "val").iterdir())[0]).unlink()
    proc = run_in_process("src.check_data", cmd[3:])  # the same command, in this process
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .endswith("has no image (expected " + str(root / "val") + "/0001TP_000000.<png|jpg|...>)")
    )


@pytest.mark.parametrize(("app", "folder"), [("check_data", "check_data"), ("model_table", "model_table")])
def test_tool_runs_get_their_own_output_folder(app, folder):
    GlobalHydra.instance().clear()
    with initialize(version_base="1.3", config_path="../conf"):
        cfg = compose(config_name=f"{app}.yaml", return_hydra_config=True)
    assert cfg.hydra.run.dir.startswith(f"{cfg.paths.log_dir}/{folder}/")  # as resolved when the tool runs
