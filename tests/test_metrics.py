import math

import pytest
import torch
from torchmetrics.functional.classification import multiclass_jaccard_index

from src.metrics.confusion import iou_per_class, mean_iou, pixel_accuracy


def test_values_from_a_hand_made_confusion_matrix():
    # rows: target, cols: prediction. Class 2 never occurs in target or prediction.
    cm = torch.tensor([[3, 1, 0], [2, 4, 0], [0, 0, 0]])
    assert math.isclose(float(pixel_accuracy(cm)), 7 / 10, rel_tol=1e-6)
    iou = iou_per_class(cm)
    assert math.isclose(float(iou[0]), 3 / (3 + 1 + 2))
    assert math.isclose(float(iou[1]), 4 / (4 + 2 + 1))
    assert math.isnan(float(iou[2]))
    # absent classes count neither as 1.0 nor as 0.0
    assert math.isclose(float(mean_iou(cm)), (3 / 6 + 4 / 7) / 2, rel_tol=1e-6)


def test_class_only_predicted_counts_as_zero():
    cm = torch.tensor([[5, 5], [0, 0]])  # class 1 predicted but never true: IoU 0, and it counts
    assert math.isclose(float(mean_iou(cm)), (5 / 10 + 0.0) / 2, rel_tol=1e-6)


def test_matches_torchmetrics_macro_jaccard():
    torch.manual_seed(0)
    target = torch.randint(0, 6, (2, 16, 16))
    preds = torch.where(torch.rand(2, 16, 16) < 0.6, target, torch.randint(0, 6, (2, 16, 16)))
    target[target == 5] = 4  # class 5 only ever predicted
    preds[preds == 3] = 2  # class 3 never predicted but present
    cm = torch.bincount((target * 8 + preds).flatten(), minlength=64).reshape(8, 8)  # classes 6, 7 absent
    expected = multiclass_jaccard_index(preds, target, num_classes=8, average="macro")
    assert torch.isclose(mean_iou(cm), expected)


def test_confusion_matrix_matches_torchmetrics_and_skips_ignored_pixels():
    from torchmetrics.classification import MulticlassConfusionMatrix

    from src.metrics.confusion import ConfusionMatrix

    torch.manual_seed(0)
    target = torch.randint(0, 5, (3, 8, 8))
    target[0, :2] = 255  # ignored
    preds = torch.randint(0, 5, (3, 8, 8))
    ours, reference = ConfusionMatrix(5, ignore_index=255), MulticlassConfusionMatrix(5, ignore_index=255)
    for i in range(3):  # accumulated over batches
        ours.update(preds[i : i + 1], target[i : i + 1])
        reference.update(preds[i : i + 1], target[i : i + 1])
    assert torch.equal(ours.compute(), reference.compute())
    assert int(ours.compute().sum()) == 3 * 64 - 16


def test_epoch_loss_is_the_mean_over_labelled_pixels_across_batches():
    """Two batches, one mostly ignored: the logged loss is the pixel mean, not the mean of the batch means."""
    from functools import partial

    import lightning as L

    from src.models.pixel_classifier import PixelClassifier
    from src.training.module import SegmentationModule

    torch.manual_seed(0)
    images = torch.randn(4, 3, 8, 8)
    labels = torch.randint(0, 5, (4, 8, 8))
    labels[2:, :7] = 255  # the second batch keeps one row of labels per image
    module = SegmentationModule(PixelClassifier(num_classes=5), partial(torch.optim.Adam), num_classes=5)
    loader = torch.utils.data.DataLoader(list(zip(images, labels, strict=True)), batch_size=2)
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    (result,) = trainer.validate(module, loader, verbose=False)
    with torch.no_grad():
        logits = module.eval()(images)
    expected = torch.nn.functional.cross_entropy(logits, labels, ignore_index=255)  # over all labelled pixels
    assert result["val/loss"] == pytest.approx(float(expected), rel=1e-5)
    ce = torch.nn.functional.cross_entropy
    batch_means = [ce(logits[i : i + 2], labels[i : i + 2], ignore_index=255) for i in (0, 2)]
    assert abs(float(sum(batch_means) / 2) - float(expected)) > 1e-3  # the two averages differ here


def test_weighted_mean_uses_its_weights_and_merges_like_ddp():
    """torchmetrics' MeanMetric(nan_strategy="disable") would give 1.5 here: it drops the weights."""
    from src.metrics.weighted_mean import WeightedMean

    first, second = WeightedMean(), WeightedMean()
    first.update(torch.tensor(2.0), torch.tensor(10))
    second.update(torch.tensor(1.0), torch.tensor(30))
    first.merge_state(second)  # what DDP's sum-reduction does
    assert float(first.compute()) == pytest.approx(1.25)
    broken = WeightedMean()
    broken.update(torch.tensor(float("nan")), 3)
    assert math.isnan(broken.compute())  # a diverged loss shows as NaN, not as a number
