"""The callback that writes a test run's results: scores, a per-image table, prediction images."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch

from utils.engine.results import TimedResultWriter, write_per_image, write_scores
from utils.vessels.images import save_png, to_rgb_uint8
from utils.vessels.metrics import (
    CONNECTIVITY_NAMES,
    IMAGE_TUNED_NAMES,
    METRIC_NAMES,
    THRESHOLD,
    TUNED_NAMES,
)

# per_image.csv's orders, worst first: highest first for these, lowest first for every other score.
HIGHER_IS_WORSE = ("fragments",)

# Error overlay colours (RGB): hits in white, false alarms in red, misses in blue.
TRUE_POSITIVE = (255, 255, 255)
FALSE_POSITIVE = (255, 40, 40)
FALSE_NEGATIVE = (40, 120, 255)


def error_overlay(probs: torch.Tensor, label: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
    """(3, H, W) uint8 map of true positives, false positives and false negatives.

    True negatives are black inside the FOV; outside it is dark grey, since it is not scored.
    """
    predicted, actual, inside = probs[0] > THRESHOLD, label[0] > THRESHOLD, fov[0].bool()
    overlay = torch.zeros(3, *predicted.shape, dtype=torch.uint8)
    overlay[:, ~inside] = 40
    for colour, where in (
        (TRUE_POSITIVE, predicted & actual),
        (FALSE_POSITIVE, predicted & ~actual),
        (FALSE_NEGATIVE, ~predicted & actual),
    ):
        overlay[:, where & inside] = torch.tensor(colour, dtype=torch.uint8)[:, None]
    return overlay


class ResultWriter(TimedResultWriter):
    """Write a vessel test run's results: the scores (`metrics`, JSON), and in `results_dir` a
    per-image table (per_image.csv, worst first by `sort_by`: f1, cldice, fragments or any other
    score) and per-image PNGs of the predicted vessel probabilities (predictions/) and of the
    errors (errors/). test.py gives both paths (the task contract: conf/task/vessels.yaml).
    metrics.json holds the pixel scores over the whole split (at 0.5, and `*_tuned` at the
    threshold chosen on validation) and the connectivity scores (utils/vessels/metrics.py)
    averaged over its images.

    metrics.json also holds `seconds_per_image`: the model's time per test image (loading,
    forward pass and scores; not the writing of the images), for the accuracy/speed trade-off.
    """

    def __init__(self, metrics: str, results_dir: str, sort_by: str = "f1") -> None:
        if sort_by not in (*METRIC_NAMES, *IMAGE_TUNED_NAMES, *CONNECTIVITY_NAMES):
            allowed = ", ".join(METRIC_NAMES + IMAGE_TUNED_NAMES + CONNECTIVITY_NAMES)
            raise ValueError(f"sort_by={sort_by!r}: expected one of {allowed}")
        self.sort_by = sort_by
        self.metrics = Path(metrics)
        self.per_image = Path(results_dir) / "per_image.csv"
        self.predictions_dir = Path(results_dir) / "predictions"
        self.errors_dir = Path(results_dir) / "errors"
        super().__init__([self.metrics, self.per_image], [self.predictions_dir, self.errors_dir])

    def write_records(self, records: list[dict]) -> None:
        for record in records:
            name = record["name"]
            save_png(to_rgb_uint8(record["probs"]), self.predictions_dir / f"{name}.png")
            save_png(
                error_overlay(record["probs"], record["label"], record["fov"]),
                self.errors_dir / f"{name}.png",
            )
            self.rows.append({"name": name, **record["metrics"]})

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.rows:
            return
        names = [*METRIC_NAMES, *IMAGE_TUNED_NAMES, *CONNECTIVITY_NAMES]
        columns = ["name", *(n for n in names if n in self.rows[0])]
        table = [{column: row[column] for column in columns} for row in self.rows]
        write_per_image(self.per_image, table, self.sort_by, HIGHER_IS_WORSE)
        scores = {name: float(trainer.callback_metrics[f"test/{name}"]) for name in METRIC_NAMES}
        for name in CONNECTIVITY_NAMES:
            scores[name] = float(np.mean([row[name] for row in self.rows]))
        for name in TUNED_NAMES:  # a model without a tuned threshold logs none of these
            if f"test/{name}" in trainer.callback_metrics:
                scores[name] = float(trainer.callback_metrics[f"test/{name}"])
        worst_f1 = min(self.rows, key=lambda row: row["f1"])
        summary = {
            **scores,
            "images": len(self.rows),
            "worst_image": worst_f1["name"],
            "worst_f1": worst_f1["f1"],
            "seconds_per_image": round(self.seconds / len(self.rows), 4),
        }
        write_scores(self.metrics, summary)


def save_prediction(
    folder: Path,
    stem: str,
    image: np.ndarray,
    probs: np.ndarray,
    threshold: float,
    fov: np.ndarray | None = None,
) -> None:
    """Write one photograph's `<stem>_probability.png` (0-255), `<stem>_vessels.png` (0/255),
    `<stem>_overlay.png` (the vessels in green over the photograph) and, given one,
    `<stem>_fov.png` (0/255): the field of view the maps were made in (python -m data.pairs
    turns these into a training set)."""
    from PIL import Image

    vessels = probs > threshold
    Image.fromarray((probs * 255).round().astype(np.uint8)).save(folder / f"{stem}_probability.png")
    Image.fromarray(vessels.astype(np.uint8) * 255).save(folder / f"{stem}_vessels.png")
    overlay = image.copy()
    overlay[vessels] = (0.4 * overlay[vessels] + 0.6 * np.array([40, 255, 90])).astype(np.uint8)
    Image.fromarray(overlay).save(folder / f"{stem}_overlay.png")
    if fov is not None:
        Image.fromarray(fov.astype(np.uint8) * 255).save(folder / f"{stem}_fov.png")
