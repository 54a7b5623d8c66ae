"""What `python -m src.eval` writes beside metrics.json, and the per-class table it prints.

class_metrics.csv (every class) and class_metrics.md (the classes present in labels or predictions, as the
printed table): pixels, predicted pixels, IoU and accuracy per class; confusion_matrix.csv (counts) and .png
(rows normalised); reliability.png, one column per way of predicting (softmax, MC-dropout mean).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from src.figures.calibration import reliability_diagram
from src.figures.confusion import confusion_figure
from src.figures.segmentation import save_figure
from src.inference.evaluation import SOFTMAX


def class_rows(confmat: torch.Tensor, class_iou: torch.Tensor, names: list[str]) -> list[dict]:
    """Per class: labelled pixels, predicted pixels, IoU and accuracy (share of its pixels predicted right)."""
    counts = confmat.double()
    labelled, predicted, right = counts.sum(1), counts.sum(0), counts.diag()
    rows = []
    for i, name in enumerate(names):
        accuracy = float(right[i] / labelled[i]) if labelled[i] > 0 else math.nan
        iou = float(class_iou[i])
        rows.append(
            {
                "class": name,
                "index": i,
                "pixels": int(labelled[i]),
                "predicted": int(predicted[i]),
                "iou": iou,
                "accuracy": accuracy,
            }
        )
    return rows


def fmt(value: float) -> str:
    """A score with three decimals, or "-" where it is undefined (NaN: a class with no pixels)."""
    return "-" if math.isnan(value) else f"{value:.3f}"


def write_class_tables(rows: list[dict], out_dir: Path) -> None:
    """class_metrics.csv (every class) and class_metrics.md (classes present in labels or predictions)."""
    with open(out_dir / "class_metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| class | pixels | IoU | accuracy |", "|---|---:|---:|---:|"]
    for row in rows:
        if row["pixels"] or row["predicted"]:
            lines.append(f"| {row['class']} | {row['pixels']} | {fmt(row['iou'])} | {fmt(row['accuracy'])} |")
    (out_dir / "class_metrics.md").write_text("\n".join(lines) + "\n")


def print_class_table(rows: list[dict], title: str) -> None:
    """The rows of class_metrics.md as a table on the terminal."""
    table = Table(title=title)
    for column, justify in (("class", "left"), ("pixels", "right"), ("IoU", "right"), ("accuracy", "right")):
        table.add_column(column, justify=justify)
    for row in rows:
        if row["pixels"] or row["predicted"]:
            table.add_row(row["class"], str(row["pixels"]), fmt(row["iou"]), fmt(row["accuracy"]))
    Console().print(table)


def write_confusion_csv(confmat: torch.Tensor, names: list[str], path: Path) -> None:
    """Counts; rows are true classes, columns predicted ones."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["true \\ predicted", *names])
        for name, row in zip(names, confmat.tolist(), strict=True):
            writer.writerow([name, *row])


def write_evaluation_files(
    results: dict[str, dict], names: list[str], split: str, mc_samples: int, out_dir: Path
) -> list[dict]:
    """Every file above from `Evaluation.results`; returns the per-class rows (of the softmax prediction)."""
    softmax = results[SOFTMAX]
    rows = class_rows(softmax["confmat"], softmax["class_iou"], names)
    write_class_tables(rows, out_dir)
    write_confusion_csv(softmax["confmat"], names, out_dir / "confusion_matrix.csv")
    save_figure(
        confusion_figure(softmax["confmat"], names, f"confusion matrix, {split} split (rows sum to 1)"),
        out_dir / "confusion_matrix.png",
    )
    bins = {n if n == SOFTMAX else f"MC dropout ({mc_samples})": r["reliability"] for n, r in results.items()}
    save_figure(reliability_diagram(bins, f"reliability, {split} split"), out_dir / "reliability.png")
    return rows
