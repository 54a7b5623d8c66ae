"""What only a GPU can show (pytest -m gpu; `make gpu-check` runs these first): bf16 autocast, channels_last,
the device-resident data path, a training step that never waits for the host, and one and two GPU training
through the real CLI. Without CUDA every test here is skipped, saying so; nothing in them is mocked."""

from __future__ import annotations

import json

import pytest
import torch
from hydra.utils import instantiate
from lightning.pytorch import Callback

from tests.helpers import TINY, compose_tiny, run_module

CUDA = torch.cuda.is_available()
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not CUDA, reason=f"needs CUDA: torch {torch.__version__} sees no CUDA device here"),
]
ON_GPU = [o.replace("trainer=cpu", "trainer=gpu") for o in TINY]
# The user's path: TINY on one GPU, but with the default callbacks, loggers and progress bar.
USER_PATH = [o for o in ON_GPU if not o.startswith(("callbacks.", "trainer.enable_progress_bar", "trainer=gpu"))]


def module_and_data(tmp_path, data_cache, overrides: list[str] | None = None):
    """The tiny config's module and datamodule on the GPU, set up for fit."""
    cfg = compose_tiny(tmp_path, data_cache, [*ON_GPU, *(overrides or [])])
    torch.manual_seed(0)
    datamodule = instantiate(cfg.data)
    datamodule.device = torch.device("cuda")
    datamodule.prepare_data()
    datamodule.setup("fit")
    return instantiate(cfg.model).cuda(), datamodule


def test_bf16_autocast_runs_the_convolutions_in_bf16_and_the_loss_in_fp32(tmp_path, data_cache):
    module, datamodule = module_and_data(tmp_path, data_cache)
    images, labels = (t.cuda() for t in next(iter(datamodule.train_dataloader())))
    optimizer = torch.optim.AdamW(module.parameters(), lr=3e-3)
    losses = []
    # one batch, memorised: the loss must fall (the same 30 steps under CPU bf16 autocast end at 0.67x the first)
    for _ in range(30):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = module(images)
            loss = module.criterion(logits, labels.long())
        assert logits.dtype == torch.bfloat16 and loss.dtype == torch.float32 and torch.isfinite(loss)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.8 * losses[0], losses


def test_channels_last_gives_the_contiguous_network_s_logits(tmp_path, data_cache):
    nhwc, datamodule = module_and_data(tmp_path, data_cache, ["model.channels_last=true"])
    nchw, _ = module_and_data(tmp_path, data_cache, ["model.channels_last=false"])
    nchw.load_state_dict(nhwc.state_dict())
    conv = next(m for m in nhwc.net.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    images = next(iter(datamodule.val_dataloader()))[0].cuda()
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # full fp32 both ways: only the layout differs
    try:
        with torch.no_grad():
            torch.testing.assert_close(nhwc.eval()(images), nchw.eval()(images), atol=1e-4, rtol=1e-4)
    finally:
        torch.backends.cudnn.allow_tf32 = tf32


def test_device_resident_batches_are_on_the_gpu_and_equal_the_host_pipeline(tmp_path, data_cache):
    _, datamodule = module_and_data(tmp_path, data_cache)
    host = list(datamodule.val_dataloader())
    datamodule.hparams.device_resident = True
    resident = list(datamodule.val_dataloader())
    assert len(resident) == len(host) > 0
    for (x, y), (hx, hy) in zip(resident, host, strict=True):
        assert x.is_cuda and y.is_cuda and x.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(x.cpu(), hx, atol=1e-5, rtol=0)
        assert torch.equal(y.cpu(), hy)


def test_a_training_step_never_waits_for_the_host(tmp_path, data_cache):
    """Device-resident batches, bf16 forward, loss, metrics update, backward and AdamW step, under
    torch.cuda.set_sync_debug_mode("error"): any host-device synchronisation raises."""
    module, datamodule = module_and_data(tmp_path, data_cache, ["data.device_resident=true"])
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3)  # as conf/model/optimizer/adamw.yaml builds it
    loader = datamodule.train_dataloader()
    # pass after pass, each a new permutation: 2 batches a pass, so the window below starts two new passes (each
    # uploads its order to the GPU, which must not wait for it)
    batches = (batch for _ in range(100) for batch in loader)

    def step(batch_idx: int) -> torch.Tensor:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = module.training_step(next(batches), batch_idx)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    step(0)  # warm-up: allocator, cuDNN kernel choice, optimizer state
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        losses = [step(i) for i in range(1, 6)]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(torch.stack(losses)).all()


class SyncErrorWindow(Callback):
    """Every training batch after the first runs under set_sync_debug_mode("error"), inside Lightning: forward,
    loss, metrics update, backward and optimizer step as the Trainer drives them."""

    def __init__(self) -> None:
        self.checked = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step >= 1:
            torch.cuda.set_sync_debug_mode("error")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.checked += torch.cuda.get_sync_debug_mode() == 2  # 2: "error"
        torch.cuda.set_sync_debug_mode("default")


def test_lightning_s_training_steps_never_wait_for_the_host(tmp_path, data_cache):
    settings = ["data.device_resident=true", "trainer.precision=bf16-mixed", "trainer.enable_checkpointing=false"]
    cfg = compose_tiny(tmp_path, data_cache, [*ON_GPU, *settings])
    window = SyncErrorWindow()
    trainer = instantiate(cfg.trainer, callbacks=[window], logger=False)
    try:
        trainer.fit(instantiate(cfg.model), datamodule=instantiate(cfg.data))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert window.checked == 3 and trainer.global_step == 4  # 2 epochs x 2 batches, all but the first checked


def read_metrics(run_dir) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def test_training_on_one_gpu_through_the_cli_with_the_default_callbacks(tmp_path, data_cache):
    run_dir = tmp_path / "run"
    args = [*USER_PATH, "trainer.gpus=1", f"paths.data_dir={data_cache}", f"hydra.run.dir={run_dir}"]
    proc = run_module("src.train", args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = read_metrics(run_dir)
    assert 0 <= metrics["test"]["test/miou"] <= 1 and metrics["global_steps"] == 4  # 2 epochs x 2 batches
    assert (run_dir / "checkpoints" / "last.ckpt").is_file() and list((run_dir / "tensorboard").rglob("events.*"))


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA GPUs for NCCL DDP")
def test_ddp_over_two_gpus_with_nccl(tmp_path, data_cache):
    run_dir = tmp_path / "run"
    args = [*USER_PATH, "trainer.gpus=2", f"paths.data_dir={data_cache}", f"hydra.run.dir={run_dir}"]
    proc = run_module("src.train", args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "distributed_backend=nccl" in proc.stdout + proc.stderr  # Lightning's line when the group starts
    metrics = read_metrics(run_dir)
    assert 0 <= metrics["test"]["test/miou"] <= 1 and metrics["global_steps"] == 2  # each rank: 2 epochs x 1 batch
