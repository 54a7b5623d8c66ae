"""model.loss (cross-entropy, class-weighted, focal, OHEM, Dice) and the per-step schedules (model.scheduler)."""

import math

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from src.core.errors import ConfigError
from src.training.losses.class_weights import class_weights
from src.training.losses.segmentation_loss import SegmentationLoss
from src.training.schedules import poly, warmup_cosine
from tests.helpers import compose_tiny


def batch(classes: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, classes, 6, 8, generator=gen, requires_grad=True)
    labels = torch.randint(0, classes, (2, 6, 8), generator=gen)
    labels[0, :2] = 255  # some void pixels
    return logits, labels


def test_class_weights_follow_label_shares_and_keep_the_loss_scale():
    counts = np.array([700, 200, 100, 0, 5000])  # class 3 never seen; index 4 stands for ignored pixels
    inverse_log = class_weights(counts, 4, "inverse_log").numpy()
    share = np.array([0.7, 0.2, 0.1])
    expected = 1 / np.log(1.02 + share)
    np.testing.assert_allclose(inverse_log[:3], expected / expected.mean(), rtol=1e-6)
    assert inverse_log[3] == 0 and inverse_log[2] > inverse_log[1] > inverse_log[0]
    median = class_weights(counts, 4, "median_frequency").numpy()
    np.testing.assert_allclose(median[:3], (0.2 / share) / (0.2 / share).mean(), rtol=1e-6)
    with pytest.raises(ConfigError, match=r"model\.loss\.class_weights must be null or one of"):
        class_weights(counts, 4, "inverse")


def test_plain_weighted_and_focal_zero_equal_torch_cross_entropy():
    logits, labels = batch()
    torch.testing.assert_close(SegmentationLoss(4)(logits, labels), F.cross_entropy(logits, labels, ignore_index=255))
    weighted = SegmentationLoss(4, class_weights="inverse_log")
    weighted.set_class_counts(np.array([10, 20, 30, 40]))
    expected = F.cross_entropy(logits, labels, weight=weighted.weight, ignore_index=255)
    torch.testing.assert_close(weighted(logits, labels), expected)
    # The per-pixel path (focal, OHEM) with a vanishing focal term: the same class-weighted mean as torch's.
    per_pixel = SegmentationLoss(4, class_weights="inverse_log", focal_gamma=1e-9)
    per_pixel.set_class_counts(np.array([10, 20, 30, 40]))
    torch.testing.assert_close(per_pixel(logits, labels), expected, rtol=1e-5, atol=1e-6)
    assert SegmentationLoss(4, focal_gamma=2.0)(logits, labels) < F.cross_entropy(logits, labels, ignore_index=255)


def test_ohem_keeps_only_the_hardest_pixels():
    logits, labels = batch()
    per_pixel = F.cross_entropy(logits, labels, ignore_index=255, reduction="none")[labels != 255]
    keep = int(0.25 * per_pixel.numel())
    expected = per_pixel.topk(keep).values.mean()
    torch.testing.assert_close(SegmentationLoss(4, ohem_fraction=0.25)(logits, labels), expected)


def test_dice_is_near_0_for_a_perfect_prediction_and_every_loss_has_finite_gradients():
    logits, labels = batch()
    perfect = 50 * F.one_hot(labels.clamp(max=3), 4).permute(0, 3, 1, 2).float()
    assert SegmentationLoss(4, ce_weight=0, dice_weight=1)(perfect, labels) < 0.02
    assert SegmentationLoss(4, ce_weight=0, dice_weight=1)(logits, labels) > 0.3
    all_void = torch.full_like(labels, 255)
    for loss in (SegmentationLoss(4), SegmentationLoss(4, dice_weight=1.0), SegmentationLoss(4, ohem_fraction=0.5)):
        for target in (labels, all_void):
            value = loss(logits, target)
            (grad,) = torch.autograd.grad(value, logits)
            assert torch.isfinite(value) and torch.isfinite(grad).all()
    with pytest.raises(ConfigError, match=r"model\.loss\.ohem_fraction must be in \(0, 1\]"):
        SegmentationLoss(4, ohem_fraction=0)
    with pytest.raises(RuntimeError, match="set_class_counts was never called"):
        SegmentationLoss(4, class_weights="inverse_log")(logits, labels)


def test_poly_and_warmup_cosine_per_step_factors():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    factor = poly(opt, total_steps=10, power=1.0, warmup_steps=2).lr_lambdas[0]
    assert [round(factor(s), 3) for s in (0, 1, 2, 6, 10)] == [0.5, 1.0, 1.0, 0.5, 0.0]
    factor = warmup_cosine(opt, total_steps=10, warmup_steps=0, final_fraction=0.1).lr_lambdas[0]
    assert factor(0) == pytest.approx(1.0) and factor(5) == pytest.approx(0.55) and factor(10) == pytest.approx(0.1)
    with pytest.raises(ConfigError, match=r"model\.scheduler\.warmup_steps must be in \[0, 10\)"):
        poly(opt, total_steps=10, warmup_steps=10)


def test_step_schedules_end_when_the_time_budget_does_if_that_comes_first():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    used = [0.0]  # share of trainer.max_time spent
    cosine = warmup_cosine(opt, 100, final_fraction=0.1, budget_used=lambda: used[0]).lr_lambdas[0]
    linear = poly(opt, 100, power=1.0, budget_used=lambda: used[0]).lr_lambdas[0]
    assert cosine(10) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.1)))  # steps lead
    used[0] = 0.5  # the clock leads: half the budget spent at step 10
    assert cosine(10) == pytest.approx(0.55) and linear(10) == pytest.approx(0.5)
    assert linear(80) == pytest.approx(0.2)  # the steps lead again
    used[0] = 1.0
    assert cosine(20) == pytest.approx(0.1) and linear(20) == 0.0  # budget spent: the end of the decay


@pytest.mark.parametrize(
    ("scheduler", "interval", "stepped"),
    [("poly", "step", 4), ("onecycle", "step", 4), ("warmup_cosine", "step", 4), ("cosine", "epoch", 2)],
)
def test_schedules_step_as_their_config_says_and_class_weights_come_from_the_train_split(
    tmp_path, data_cache, scheduler, interval, stepped
):
    overrides = ["model/loss=ce_dice", f"model/scheduler={scheduler}"]
    if scheduler == "warmup_cosine":
        overrides.append("model.scheduler.warmup_steps=2")
    cfg = compose_tiny(tmp_path, data_cache, overrides)
    datamodule, module = instantiate(cfg.data), instantiate(cfg.model)
    trainer = L.Trainer(
        max_epochs=2, limit_train_batches=2, limit_val_batches=0, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(module, datamodule=datamodule)
    config = trainer.lr_scheduler_configs[0]
    assert cfg.model.scheduler_interval == interval  # stated by conf/model/scheduler/<name>.yaml
    assert config.interval == interval and config.scheduler.last_epoch == stepped  # after each of 4 batches / 2 epochs
    expected = class_weights(datamodule.label_counts("train"), cfg.data.num_classes, "inverse_log")
    torch.testing.assert_close(module.objective.weight, expected)
    assert "objective.weight" not in module.state_dict()  # checkpoints do not depend on the loss
