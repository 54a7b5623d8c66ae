"""`python -m src.export`: the written file loads, matches PyTorch at any batch and size, and says so."""

import json
import re
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from hydra import compose, initialize
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from torch import nn

from src.inference.export_formats import ParityError, check_parity, export_torchscript, load_exported
from src.inference.network_export import export
from src.inference.trained_run import load_trained_run
from src.models.unet import UNet
from tests.helpers import ROOT, TINY, run_in_process, run_module

pytestmark = pytest.mark.slow

ATOL = 1e-4
PARITY_LINE = re.compile(r"^max abs diff vs PyTorch: (\S+) \(atol 0\.0001\)$", re.MULTILINE)
ODD_SIZE = (1, 3, 30, 50)  # neither the training size (64x128) nor a multiple of 2**depth


@pytest.fixture(scope="module")
def trained_unetpp(tmp_path_factory: pytest.TempPathFactory, data_cache: Path) -> Path:
    """A tiny depth-2 UNet++ with deep supervision (a head per level, so every prune level is trained)."""
    run_dir = tmp_path_factory.mktemp("trained_unetpp") / "run"
    args = [
        *TINY,
        "model=unetpp",
        "model.net.deep_supervision=true",
        "model.net.depth=2",
        "trainer.max_epochs=1",
        f"paths.data_dir={data_cache}",
        f"hydra.run.dir={run_dir}",
    ]
    proc = run_module("src.train", args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir


def pytorch_model(run_dir: Path, **kwargs) -> nn.Module:
    """The checkpoint's LightningModule as eval/predict run it (the parity reference)."""
    paths = OmegaConf.create({k: str(run_dir) for k in ("root_dir", "data_dir", "log_dir", "output_dir")})
    return load_trained_run(str(run_dir / "checkpoints" / "last.ckpt"), paths=paths, **kwargs).module


def run_file(path: Path, x: torch.Tensor) -> np.ndarray:
    """Logits of the exported file, loaded as a user would, without src/inference/export_formats.py's helpers."""
    if path.suffix == ".onnx":
        onnx.checker.check_model(str(path), full_check=True)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(["logits"], {"image": x.numpy()})[0]
    with torch.no_grad():
        return torch.jit.load(str(path)).eval()(x).numpy()


def count_convs(path: Path) -> int:
    """Convolutions in the exported graph: what the shipped file computes."""
    if path.suffix == ".onnx":
        return sum(node.op_type == "Conv" for node in onnx.load(str(path)).graph.node)
    return sum(m.original_name == "Conv2d" for m in torch.jit.load(str(path)).modules())


def assert_matches_pytorch(path: Path, model: nn.Module) -> None:
    """The file's logits equal PyTorch's at other batch sizes and spatial sizes than it was exported and checked at."""
    generator = torch.Generator().manual_seed(1)
    for shape in (ODD_SIZE, (4, 3, 64, 128)):
        x = torch.randn(shape, generator=generator)
        got = run_file(path, x)
        with torch.no_grad():
            expected = model(x).numpy()
        assert got.shape == expected.shape == (shape[0], expected.shape[1], *shape[2:])
        assert np.abs(got - expected).max() <= ATOL, shape


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_cli_exports_checks_parity_and_writes_the_report(trained_run, tmp_path, fmt):
    ckpt = trained_run / "checkpoints" / "last.ckpt"
    run_dir = tmp_path / "export"
    args = [f"ckpt_path={ckpt}", f"format={fmt}", "batch_size=3", f"hydra.run.dir={run_dir}"]
    if fmt == "torchscript":  # and an explicit output file, outside the run folder
        args.append(f"output={tmp_path / 'shipped' / 'model.pt'}")
    proc = run_module("src.export", args)
    assert proc.returncode == 0, proc.stderr[-3000:]

    file = tmp_path / "shipped" / "model.pt" if fmt == "torchscript" else run_dir / "unet.onnx"
    (diff,) = PARITY_LINE.findall(proc.stdout)
    assert 0 <= float(diff) <= ATOL
    assert f"UNet -> {file} ({fmt}," in proc.stdout
    report = json.loads((run_dir / "export.json").read_text())
    assert report["format"] == fmt and report["file"] == str(file) and report["bytes"] == file.stat().st_size
    assert report["ckpt_path"] == str(ckpt.resolve()) and report["model"] == "UNet"
    assert report["prune_level"] is None and report["ds_mode"] is None
    assert report["opset"] == (18 if fmt == "onnx" else None)
    assert report["input_shape"] == [3, 3, 64, 128] and report["input"]["shape"] == ["batch", 3, "height", "width"]
    assert report["output"]["shape"] == ["batch", 34, "height", "width"]
    assert report["normalisation"] == {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    assert report["max_abs_diff"] == pytest.approx(float(diff), rel=1e-2) and report["atol"] == ATOL
    assert report["pytorch_seconds"] > 0 and report["exported_seconds"] > 0
    assert_matches_pytorch(file, pytorch_model(trained_run))


def compose_export(output_dir: Path, overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize(version_base="1.3", config_path="../conf"):
        paths = [f"paths.root_dir={ROOT}", f"paths.output_dir={output_dir}"]
        return compose(config_name="export.yaml", overrides=[*overrides, *paths])


@pytest.mark.parametrize(
    ("fmt", "prune_level", "ds_mode"),
    [("onnx", 1, None), ("onnx", 2, None), ("torchscript", 1, None), ("onnx", None, "accurate")],
)
def test_unetpp_ships_each_prune_level_as_a_smaller_net(trained_unetpp, tmp_path, fmt, prune_level, ds_mode):
    ckpt = trained_unetpp / "checkpoints" / "last.ckpt"
    knobs = {"ckpt_path": ckpt, "format": fmt, "prune_level": prune_level, "ds_mode": ds_mode}
    report = export(compose_export(tmp_path, [f"{k}={'null' if v is None else v}" for k, v in knobs.items()]))

    name = "unetpp" if prune_level is None else f"unetpp_L{prune_level}"
    file = tmp_path / f"{name}{'.onnx' if fmt == 'onnx' else '.pt'}"
    assert report["file"] == str(file) and file.is_file()
    assert report["model"] == "NestedUNet" and report["prune_level"] == prune_level and report["ds_mode"] == ds_mode
    assert report["max_abs_diff"] <= ATOL
    model = pytorch_model(trained_unetpp, prune_level=prune_level, ds_mode=ds_mode)
    assert_matches_pytorch(file, model)

    # The file computes only what X^{0,L} needs: the pruned net's convolutions, fewer than the full net's.
    full = model.net
    shipped = full.pruned(prune_level) if prune_level is not None else full
    assert count_convs(file) == sum(isinstance(m, nn.Conv2d) for m in shipped.modules())
    assert report["parameters"] == sum(p.numel() for p in shipped.parameters())
    if prune_level == 1:
        assert report["parameters"] < sum(p.numel() for p in full.parameters())


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["ckpt_path={ckpt}", "format=tflite"],
            "ConfigError: format=tflite is not an export format; expected one of onnx, torchscript",
        ),
        ([], "ConfigError: ckpt_path is required"),  # the rest is src/inference/trained_run.py's wording
        (["ckpt_path={ckpt}", "prune_level=1"], "ConfigError: prune_level=1 applies to UNet++"),
    ],
)
def test_cli_bad_input_is_one_line_naming_the_key(trained_run, tmp_path, args, line):
    ckpt = trained_run / "checkpoints" / "last.ckpt"
    # The first case through a real `python -m src.export` (its exit status and stderr), the others in this process.
    run = run_module if "format=tflite" in args else run_in_process
    proc = run("src.export", [*(a.format(ckpt=ckpt) for a in args), f"hydra.run.dir={tmp_path}"])
    assert proc.returncode == 1
    assert line in proc.stderr.strip().splitlines()[-1]
    assert "Traceback" not in proc.stderr and not (tmp_path / "export.json").exists()


def test_parity_check_fails_for_a_model_that_differs(tmp_path, capsys):
    torch.manual_seed(0)
    net = UNet(num_classes=3, base_channels=4, depth=2).eval()
    x = torch.randn(2, 3, 32, 48)
    export_torchscript(net, x[:1], tmp_path / "unet.pt")
    exported = load_exported("torchscript", tmp_path / "unet.pt")
    assert check_parity(net, exported, x, ATOL) <= ATOL

    with torch.no_grad():
        net.head[-1].bias[0] += 1e-3  # PyTorch's model moves on; the exported file no longer matches it
    with pytest.raises(ParityError, match=r"differ from PyTorch's by up to 0\.001, more than atol=0\.0001"):
        check_parity(net, exported, x, ATOL)
    assert capsys.readouterr().out.splitlines()[-1] == "max abs diff vs PyTorch: 0.001 (atol 0.0001)"

    with pytest.raises(ParityError, match="more than atol"):  # NaN logits fail too
        check_parity(net, lambda x: np.full((2, 3, 32, 48), np.nan, dtype=np.float32), x, ATOL)
    with pytest.raises(ParityError, match=r"shape \(2, 3, 16, 24\); PyTorch's are \(2, 3, 32, 48\)"):
        check_parity(net, lambda x: np.zeros((2, 3, 16, 24), dtype=np.float32), x, ATOL)
