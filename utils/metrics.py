"""Vessel segmentation scores, computed on the pixels inside the field of view (FOV).

DRIVE's convention: probabilities against the first observer's label, thresholded at 0.5 for
every score but AUC-ROC. torchmetrics does the arithmetic.
"""

from __future__ import annotations

import torch
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryAUROC,
    BinaryF1Score,
    BinaryRecall,
    BinarySpecificity,
)
from torchmetrics.functional.classification import (
    binary_accuracy,
    binary_auroc,
    binary_f1_score,
    binary_recall,
    binary_specificity,
)

METRIC_NAMES = ("auroc", "f1", "accuracy", "sensitivity", "specificity")
THRESHOLD = 0.5  # a pixel is a vessel where its probability is above this (torchmetrics' rule)


def vessel_metrics(prefix: str) -> MetricCollection:
    """Dataset-level scores accumulated over batches; keys are `<prefix><name>`, e.g. `val/f1`."""
    return MetricCollection(
        {
            "auroc": BinaryAUROC(),
            "f1": BinaryF1Score(),
            "accuracy": BinaryAccuracy(),
            "sensitivity": BinaryRecall(),
            "specificity": BinarySpecificity(),
        },
        prefix=prefix,
    )


def inside_fov(
    probs: torch.Tensor, label: torch.Tensor, fov: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flatten probabilities and integer labels of the pixels inside the FOV."""
    fov = fov.bool()
    return probs[fov].float(), label[fov].round().int()


def image_metrics(probs: torch.Tensor, label: torch.Tensor, fov: torch.Tensor) -> dict[str, float]:
    """All scores of one image; AUC-ROC is NaN when the FOV holds a single class."""
    preds, target = inside_fov(probs, label, fov)
    single_class = target.min() == target.max()
    return {
        "auroc": float("nan") if single_class else float(binary_auroc(preds, target)),
        "f1": float(binary_f1_score(preds, target)),
        "accuracy": float(binary_accuracy(preds, target)),
        "sensitivity": float(binary_recall(preds, target)),
        "specificity": float(binary_specificity(preds, target)),
    }
