"""Vessel segmentation scores, computed on the pixels inside the field of view (FOV).

DRIVE's convention: probabilities against the first observer's label, thresholded at 0.5 for
every score but AUC-ROC. torchmetrics does the arithmetic.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric, MetricCollection
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
# Per image (test.py's per_image.csv, predict.py's summary.csv) and averaged in metrics.json.
CONNECTIVITY_NAMES = ("cldice", "fragments", "label_fragments")
EIGHT_NEIGHBOURS = [[1, 1, 1], [1, 1, 1], [1, 1, 1]]  # pixels touching at a corner are one piece
# At the threshold chosen on the validation split (BestThreshold), beside those at THRESHOLD.
TUNED_NAMES = ("threshold_tuned", "f1_tuned", "sensitivity_tuned", "specificity_tuned")
IMAGE_TUNED_NAMES = TUNED_NAMES[1:]  # per image: the threshold is the experiment's, not the image's
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


def tuned_metrics(prefix: str) -> MetricCollection:
    """F1, sensitivity and specificity of vessel maps already thresholded (0/1) at the tuned
    threshold; keys `<prefix><name>_tuned`."""
    return MetricCollection(
        {  # the maps are the caller's own 0/1 tensors: torchmetrics' input checks cost more
            "f1": BinaryF1Score(validate_args=False),
            "sensitivity": BinaryRecall(validate_args=False),
            "specificity": BinarySpecificity(validate_args=False),
        },
        prefix=prefix,
        postfix="_tuned",
    )


class BestThreshold(Metric):
    """The probability threshold with the highest F1 over every pixel seen (inside the FOV).

    Keeps a histogram of the probabilities of vessel and of background pixels (`bins` bins of
    [0, 1], summed over processes under DDP), so a whole validation split costs two small
    vectors; the threshold is a bin edge, and a pixel counts as vessel above it, as at 0.5.
    """

    full_state_update = False

    def __init__(self, bins: int = 200) -> None:
        super().__init__()
        self.bins = bins
        self.add_state("vessel", default=torch.zeros(bins, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state(
            "background", default=torch.zeros(bins, dtype=torch.long), dist_reduce_fx="sum"
        )

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        index = (preds.float().clamp(0, 1) * self.bins).long().clamp(max=self.bins - 1)
        vessel = target.bool()
        self.vessel += torch.bincount(index[vessel], minlength=self.bins)
        self.background += torch.bincount(index[~vessel], minlength=self.bins)

    def compute(self) -> torch.Tensor:
        # Threshold k / bins: pixels in bins k and above are vessel (the pixels exactly at the
        # edge count as above it: a bin's width is the resolution of the choice).
        hits = self.vessel.flip(0).cumsum(0).flip(0).double()
        false_alarms = self.background.flip(0).cumsum(0).flip(0).double()
        misses = self.vessel.sum() - hits
        f1 = 2 * hits / (2 * hits + false_alarms + misses).clamp(min=1)
        if f1.max() == 0:  # no vessel at all yet: keep the usual threshold
            return torch.tensor(THRESHOLD)
        return torch.argmax(f1).float() / self.bins


def inside_fov(
    probs: torch.Tensor, label: torch.Tensor, fov: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flatten probabilities and integer labels of the pixels inside the FOV."""
    fov = fov.bool()
    return probs[fov].float(), label[fov].round().int()


def image_metrics(
    probs: torch.Tensor,
    label: torch.Tensor,
    fov: torch.Tensor,
    tuned_threshold: float | None = None,
) -> dict[str, float]:
    """All scores of one image, pixel and connectivity, and with `tuned_threshold` those of
    IMAGE_TUNED_NAMES at it; AUC-ROC is NaN when the FOV holds a single class."""
    preds, target = inside_fov(probs, label, fov)
    single_class = target.min() == target.max()
    scores = {
        "auroc": float("nan") if single_class else float(binary_auroc(preds, target)),
        "f1": float(binary_f1_score(preds, target)),
        "accuracy": float(binary_accuracy(preds, target)),
        "sensitivity": float(binary_recall(preds, target)),
        "specificity": float(binary_specificity(preds, target)),
    }
    if tuned_threshold is not None:
        tuned = (preds > tuned_threshold).float()
        scores["f1_tuned"] = float(binary_f1_score(tuned, target, validate_args=False))
        scores["sensitivity_tuned"] = float(binary_recall(tuned, target, validate_args=False))
        scores["specificity_tuned"] = float(binary_specificity(tuned, target, validate_args=False))
    return {**scores, **connectivity(probs, label, fov)}


def connectivity(probs: torch.Tensor, label: torch.Tensor, fov: torch.Tensor) -> dict[str, float]:
    """How well the thresholded map keeps the vessel tree connected, inside the FOV.

    Pixel F1 barely moves when a vessel is cut at a few pixels; a clinician tracing it sees a
    broken tree. `cldice` (Shit et al., CVPR 2021): the harmonic mean of the share of the
    predicted centrelines (skeleton) inside the label and of the label's centrelines inside the
    prediction, 1 for a map with no vessel where the label has none. `fragments` and
    `label_fragments`: connected pieces (8-neighbours, scipy) of the prediction and of the label; a
    prediction with many more pieces than its label has broken vessels or scattered noise.
    """
    from scipy.ndimage import label as pieces  # what skimage.measure.label would import too
    from skimage.morphology import skeletonize

    inside = fov[0].bool().cpu().numpy()
    predicted = (probs[0].float() > THRESHOLD).cpu().numpy() & inside
    actual = (label[0].float() > THRESHOLD).cpu().numpy() & inside
    centre_predicted, centre_actual = skeletonize(predicted), skeletonize(actual)
    if not centre_predicted.any() and not centre_actual.any():
        cldice = 1.0
    else:
        precision = (centre_predicted & actual).sum() / max(centre_predicted.sum(), 1)
        sensitivity = (centre_actual & predicted).sum() / max(centre_actual.sum(), 1)
        total = precision + sensitivity
        cldice = float(2 * precision * sensitivity / total) if total > 0 else 0.0
    return {
        "cldice": cldice,
        "fragments": float(pieces(predicted, structure=EIGHT_NEIGHBOURS)[1]),
        "label_fragments": float(pieces(actual, structure=EIGHT_NEIGHBOURS)[1]),
    }
