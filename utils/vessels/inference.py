"""Vessel probabilities for one photograph of any size, at the scale the model was trained at.

Vessel width in pixels is what a network learns. A photograph whose field of view (FOV) is
twice as wide as the training images' shows vessels twice as wide: it is resized so its FOV
diameter matches the training one, predicted tile by tile, and the map resized back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from data.manifest import DataError
from data.photographs import estimate_fov, image_statistics, read_mask, read_photograph
from utils.vessels.metrics import image_metrics, inside_fov
from utils.vessels.results import save_prediction
from utils.vessels.shift import shift_flags
from utils.vessels.tiling import predict_tiled

log = logging.getLogger("predict")

SCALE_LIMITS = (0.05, 8.0)  # beyond these the photograph is not a fundus image at all


def resize(array: np.ndarray, size: tuple[int, int], resample: int) -> np.ndarray:
    """Resize an (H, W) float32 or (H, W, 3) uint8 array to (width, height) = `size`."""
    if array.dtype == np.float32:
        return np.asarray(Image.fromarray(array, mode="F").resize(size, resample))
    return np.asarray(Image.fromarray(array).resize(size, resample))


def predict_photograph(
    model: Callable[[torch.Tensor], torch.Tensor],
    image: np.ndarray,
    fov: np.ndarray,
    scale: float,
    normalize_mode: str = "none",
    tile: int = 1024,
    overlap: int = 32,
    normalization: dict | None = None,
) -> np.ndarray:
    """(H, W) float32 vessel probabilities of an (H, W, 3) uint8 photograph with its (H, W)
    field of view.

    The photograph is resized by `scale` (clamped to SCALE_LIMITS) and normalised as in
    training (`data.normalize` of the experiment, with the training split's `normalization`
    {mean, std} for `dataset`) before the model sees it, and the map is resized back to the
    photograph's pixels.
    """
    from data.normalize import normalize, statistics_for

    height, width = image.shape[:2]
    scale = float(np.clip(scale, *SCALE_LIMITS))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size != (width, height):
        image = resize(image, size, Image.BILINEAR)
        fov = resize(fov.astype(np.uint8) * 255, size, Image.NEAREST) > 127
    tensor = torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255.0
    fov_tensor = torch.from_numpy(fov)[None]
    statistics = statistics_for(tensor, fov_tensor, normalize_mode, normalization)
    tensor = normalize(tensor, *statistics, normalize_mode)[None]
    probs = predict_tiled(model, tensor, tile, overlap)[0, 0].numpy().astype(np.float32)
    if probs.shape != (height, width):
        probs = resize(probs, (width, height), Image.BILINEAR)
    return np.clip(probs, 0.0, 1.0)


@dataclass
class PhotographPredictor:
    """Predicts photographs one by one into `out`: maps, a summary row, pooled scores.

    `reference` holds the training images' statistics (data_statistics.json): their FOV
    diameter sets the scale (scale="auto", or a factor), and their ranges the shift flags.
    `pooled` accumulates the scores of labelled photographs (a torchmetrics collection), and
    `tuned`, if given, those of their maps thresholded at `tuned_threshold` (see
    utils/vessels/metrics.py).
    """

    model: Callable[[torch.Tensor], torch.Tensor]  # on_device(...): tiles in, probabilities out
    reference: dict
    out: Path
    pooled: Any
    normalize: str = "none"
    scale: float | str = "auto"
    tile: int = 1024
    overlap: int = 32
    threshold: float = 0.5
    tuned: Any = None
    tuned_threshold: float = 0.5

    def __call__(self, photo: Path, mask: Path | None, label: Path | None) -> dict:
        """Predict one photograph and write its maps; a photograph that cannot be read gives a row
        with its error, and the others go on."""
        start = time.perf_counter()
        row: dict = {"name": photo.name}
        try:
            image = read_photograph(photo)
            fov = read_mask(mask, image.shape[:2]) if mask else estimate_fov(image)
            truth = read_mask(label, image.shape[:2]) if label else None
        except DataError as error:
            log.warning("skipped: %s", error)
            return {**row, "error": str(error), "flags": ""}
        stats = image_statistics(image, fov)
        wanted = self.reference["fov_diameter"]["median"]
        scale = (
            float(self.scale) if self.scale != "auto" else wanted / max(stats["fov_diameter"], 1.0)
        )
        if fov.any():
            probs = fov * predict_photograph(
                self.model,
                image,
                fov,
                scale,
                self.normalize,
                self.tile,
                self.overlap,
                self.reference.get("normalization"),
            )
        else:  # nothing to look at: a blank photograph gets an empty map and a flag
            probs, scale = np.zeros(fov.shape, np.float32), 1.0
        stats["vessel_fraction"] = float((probs[fov] > self.threshold).mean()) if fov.any() else 0.0
        save_prediction(self.out, photo.stem, image, probs, self.threshold, fov)
        height, width = image.shape[:2]
        row.update(width=width, height=height, fov="given" if mask else "estimated", scale=scale)
        row.update({k: round(v, 4) for k, v in stats.items()})
        row["flags"] = "; ".join(shift_flags(stats, self.reference))
        if truth is not None and fov.any():
            tensors = [torch.from_numpy(a)[None].float() for a in (probs, truth)]
            threshold = self.tuned_threshold if self.tuned is not None else None
            row.update(image_metrics(*tensors, torch.from_numpy(fov)[None], threshold))
            preds, target = inside_fov(*tensors, torch.from_numpy(fov)[None])
            self.pooled.update(preds, target)
            if self.tuned is not None:
                self.tuned.update((preds > self.tuned_threshold).float(), target)
        row["seconds"] = round(time.perf_counter() - start, 3)
        return row
