import subprocess
import sys

import pytest
from hydra import compose, initialize
from hydra.core.global_hydra import GlobalHydra

from src.model_table import model_table
from src.models.cost_table import BEGIN, END, replace_between_markers
from tests.helpers import ROOT

SMALL = ["base_channels=2", "size=[32,64]", "batch_size=1", "rounds=1", "warmup=0"]


def test_rows_measure_unet_and_every_unetpp_prune_level():
    GlobalHydra.instance().clear()
    with initialize(version_base="1.3", config_path="../conf"):
        cfg = compose(config_name="model_table.yaml", overrides=SMALL)
    rows = {row["model"]: row for row in model_table(cfg)}
    assert list(rows) == ["UNet", "UNet++ L1", "UNet++ L2", "UNet++ L3", "UNet++ L4", "UNet++ accurate (4 heads)"]
    pruned = [rows[f"UNet++ L{n}"] for n in (1, 2, 3, 4)]
    assert [r["parameters"] for r in pruned] == sorted(r["parameters"] for r in pruned)
    assert [r["gflops"] for r in pruned] == sorted(r["gflops"] for r in pruned)
    assert rows["UNet++ L4"]["parameters"] > rows["UNet"]["parameters"]
    assert rows["UNet++ L4"]["gflops"] > rows["UNet"]["gflops"]
    assert rows["UNet++ accurate (4 heads)"]["parameters"] > rows["UNet++ L4"]["parameters"]  # three more heads
    assert all(r["images_per_s"] > 0 and len(r["seconds_per_batch"]) == 1 for r in rows.values())


@pytest.mark.slow
def test_cli_writes_the_table_into_the_readme_between_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nbefore\n{BEGIN}\nold table\n{END}\nafter\n")
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "src.model_table", *SMALL, f"readme={readme}", f"hydra.run.dir={run_dir}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = readme.read_text()
    assert "old table" not in text and text.startswith("# Title\n\nbefore\n") and text.endswith(f"{END}\nafter\n")
    assert "| UNet++ L3 |" in text and (run_dir / "model_table.md").read_text().strip() in text
    assert '"model": "UNet"' in (run_dir / "model_table.json").read_text()


def test_readme_without_markers_is_a_clear_error_and_left_untouched(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("no markers here\n")
    with pytest.raises(ValueError, match="model-table:begin"):
        replace_between_markers(readme, "table")
    assert readme.read_text() == "no markers here\n"
