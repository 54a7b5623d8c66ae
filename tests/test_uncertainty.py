"""Entropy, MC dropout, ECE and error-detection AUROC: values against closed forms and torchmetrics."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torchmetrics.classification import BinaryAUROC, MulticlassCalibrationError

from src.metrics.calibration import ReliabilityBins
from src.metrics.error_detection import ErrorDetectionAUROC
from src.models.uncertainty import entropy, predict, predict_mc_dropout
from src.models.unet import UNet


def test_entropy_is_zero_for_one_hot_and_log_c_for_uniform():
    one_hot = torch.zeros(1, 5, 2, 2)
    one_hot[:, 2] = 1
    assert entropy(one_hot).abs().max() == 0
    uniform = torch.full((1, 5, 2, 2), 0.2)
    assert torch.allclose(entropy(uniform), torch.full((1, 2, 2), math.log(5)))


def tiny_unet(dropout=(0.3, 0.3)) -> UNet:
    torch.manual_seed(0)
    return UNet(num_classes=4, base_channels=4, depth=2, dropout=dropout, head_channels=None).eval()


def test_mc_dropout_mean_entropy_and_mutual_information():
    net, images = tiny_unet(), torch.randn(2, 3, 16, 16)
    running_mean = net.stem[1].running_mean.clone()
    mc = predict_mc_dropout(net, images, samples=8)
    assert mc.probs.shape == (2, 4, 16, 16) and mc.entropy.shape == mc.mutual_information.shape == (2, 16, 16)
    assert torch.allclose(mc.probs.sum(1), torch.ones(2, 16, 16), atol=1e-5)
    assert torch.allclose(mc.entropy, entropy(mc.probs))
    assert (mc.mutual_information >= 0).all() and mc.mutual_information.mean() > 0  # the samples disagree
    assert (mc.mutual_information <= mc.entropy + 1e-6).all()  # MI is part of the predictive entropy
    # Dropout is back in eval mode and BatchNorm never left it: a deterministic pass repeats exactly.
    assert not any(m.training for m in net.modules())
    assert torch.equal(predict(net, images).probs, predict(net, images).probs)
    assert torch.equal(net.stem[1].running_mean, running_mean)


def test_mc_dropout_refuses_a_net_without_dropout():
    with pytest.raises(ValueError, match="no dropout"):
        predict_mc_dropout(tiny_unet(dropout=(0.0, 0.0)), torch.randn(1, 3, 16, 16), samples=4)


def test_ece_is_near_zero_when_calibrated_and_gap_when_overconfident():
    g = torch.Generator().manual_seed(0)
    confidence = torch.rand(1_000_000, generator=g)
    correct = torch.rand(1_000_000, generator=g) < confidence  # right exactly as often as it claims
    target = torch.zeros_like(confidence, dtype=torch.long)
    bins = ReliabilityBins(n_bins=15)
    bins.update(confidence, correct, target)
    result = bins.compute()
    assert result["ece"] < 0.003
    assert result["pixels"].sum() == 1_000_000

    over = ReliabilityBins(n_bins=15)  # claims 0.9, right 60% of the time
    over.update(torch.full((1000,), 0.9), torch.arange(1000) % 10 < 6, torch.zeros(1000, dtype=torch.long))
    assert over.compute()["ece"] == pytest.approx(0.3, abs=1e-6)


def top_class(probs: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    confidence, prediction = probs.max(1)
    return confidence, prediction == target, target


def test_ece_matches_torchmetrics_and_skips_ignored_pixels():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 6, 8, 8, generator=g) * 3
    probs = logits.softmax(1)
    target = torch.randint(0, 6, (4, 8, 8), generator=g)
    ours = ReliabilityBins(n_bins=15)
    ours.update(*top_class(probs, target))
    reference = MulticlassCalibrationError(num_classes=6, n_bins=15, norm="l1")
    reference.update(probs, target)
    assert ours.compute()["ece"] == pytest.approx(float(reference.compute()), abs=1e-5)

    ignored = target.clone()
    ignored[:, :4] = 255
    with_ignore = ReliabilityBins(n_bins=15)
    with_ignore.update(*top_class(probs, ignored))
    kept = ReliabilityBins(n_bins=15)
    kept.update(*top_class(probs[:, :, 4:], target[:, 4:]))
    assert torch.equal(with_ignore.compute()["pixels"], kept.compute()["pixels"])
    assert with_ignore.compute()["ece"] == pytest.approx(float(kept.compute()["ece"]))


def test_reliability_bins_of_two_processes_add_up_to_one():
    """What DDP's sum-reduction does: the states of two halves give the metric of the whole."""
    g = torch.Generator().manual_seed(2)
    probs = torch.randn(4, 5, 8, 8, generator=g).softmax(1)
    target = torch.randint(0, 5, (4, 8, 8), generator=g)
    whole, first, second = ReliabilityBins(), ReliabilityBins(), ReliabilityBins()
    whole.update(*top_class(probs, target))
    first.update(*top_class(probs[:2], target[:2]))
    second.update(*top_class(probs[2:], target[2:]))
    first.merge_state(second)
    assert first.compute()["ece"] == pytest.approx(float(whole.compute()["ece"]))


def test_error_auroc_matches_torchmetrics_and_extremes():
    g = torch.Generator().manual_seed(3)
    wrong = torch.rand(20_000, generator=g) < 0.3
    score = torch.rand(20_000, generator=g) + 0.5 * wrong  # wrong pixels score higher, with overlap
    score = score / 1.5
    target = torch.zeros_like(wrong, dtype=torch.long)
    ours = ErrorDetectionAUROC(max_score=1.0)
    ours.update(score, wrong, target)
    exact = BinaryAUROC()(score, wrong.long())
    assert ours.compute() == pytest.approx(float(exact), abs=1e-3)
    assert 0.7 < float(exact) < 0.95

    perfect = ErrorDetectionAUROC(max_score=1.0)
    perfect.update(wrong.float() * 0.9 + 0.05, wrong, target)
    assert perfect.compute() == pytest.approx(1.0)
    backwards = ErrorDetectionAUROC(max_score=1.0)
    backwards.update(1 - wrong.float(), wrong, target)
    assert backwards.compute() == pytest.approx(0.0)
    no_errors = ErrorDetectionAUROC(max_score=1.0)
    no_errors.update(score, torch.zeros_like(wrong), target)
    assert math.isnan(no_errors.compute())


def test_error_auroc_stays_exact_for_a_confident_model():
    """Most entropies of a confident softmax sit within 1e-6 of 0: log-spaced bins still separate them."""
    g = torch.Generator().manual_seed(5)
    n, classes = 100_000, 34
    wrong = torch.rand(n, generator=g) < 0.1
    margin = torch.where(wrong, torch.randn(n, generator=g) * 4 + 9, torch.randn(n, generator=g) * 3 + 16)
    logits = torch.randn(n, classes, generator=g)
    logits[:, 0] = margin
    score = entropy(logits.softmax(1))
    assert (score < 1e-3).float().mean() > 0.5
    metric = ErrorDetectionAUROC(max_score=math.log(classes))
    metric.update(score, wrong, torch.zeros(n, dtype=torch.long))
    assert metric.compute() == pytest.approx(float(BinaryAUROC()(score, wrong.long())), abs=1e-4)


def test_error_auroc_skips_ignored_pixels():
    wrong = torch.tensor([True, False, True, False])
    score = torch.tensor([0.9, 0.1, 0.05, 0.95])
    target = torch.tensor([0, 0, 255, 255])  # the last two would make it 0.5
    metric = ErrorDetectionAUROC(max_score=1.0)
    metric.update(score, wrong, target)
    assert metric.compute() == pytest.approx(1.0)


def test_entropy_flags_errors_of_a_softmax_better_than_chance():
    """A classifier that is unsure where it is wrong: entropy should detect its errors (AUROC > 0.5)."""
    g = torch.Generator().manual_seed(4)
    target = torch.randint(0, 4, (2, 32, 32), generator=g)
    logits = torch.nn.functional.one_hot(target, 4).permute(0, 3, 1, 2).float() * 2
    logits += torch.randn(logits.shape, generator=g) * 1.5
    probs = logits.softmax(1)
    metric = ErrorDetectionAUROC(max_score=math.log(4))
    metric.update(entropy(probs), probs.argmax(1) != target, target)
    assert metric.compute() > 0.7


def test_dropout_layers_found_in_nested_modules():
    net = nn.Sequential(nn.Sequential(nn.Dropout(0.1)), nn.Dropout2d(0.2), nn.Dropout(0.0))
    from src.models.uncertainty import dropout_layers

    assert len(dropout_layers(net)) == 2
