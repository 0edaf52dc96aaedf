"""Vessel probabilities for one photograph of any size, at the scale the model was trained at.

Vessel width in pixels is what a network learns. A photograph whose field of view (FOV) is
twice as wide as the training images' shows vessels twice as wide: it is resized so its FOV
diameter matches the training one, predicted tile by tile, and the map resized back.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from utils.tiling import predict_tiled

SCALE_LIMITS = (0.05, 8.0)  # beyond these the photograph is not a fundus image at all


def resize(array: np.ndarray, size: tuple[int, int], resample: int) -> np.ndarray:
    """Resize an (H, W) float32 or (H, W, 3) uint8 array to (width, height) = `size`."""
    if array.dtype == np.float32:
        return np.asarray(Image.fromarray(array, mode="F").resize(size, resample))
    return np.asarray(Image.fromarray(array).resize(size, resample))


def predict_photograph(
    model: torch.nn.Module,
    image: np.ndarray,
    fov: np.ndarray,
    scale: float,
    normalize_mode: str = "none",
    tile: int = 512,
    overlap: int = 32,
) -> np.ndarray:
    """(H, W) float32 vessel probabilities of an (H, W, 3) uint8 photograph with its (H, W)
    field of view.

    The photograph is resized by `scale` (clamped to SCALE_LIMITS) and normalised as in
    training (`data.normalize` of the experiment) before the model sees it, and the map is
    resized back to the photograph's pixels.
    """
    from data.normalize import fov_statistics, normalize

    height, width = image.shape[:2]
    scale = float(np.clip(scale, *SCALE_LIMITS))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size != (width, height):
        image = resize(image, size, Image.BILINEAR)
        fov = resize(fov.astype(np.uint8) * 255, size, Image.NEAREST) > 127
    tensor = torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255.0
    fov_tensor = torch.from_numpy(fov)[None]
    tensor = normalize(tensor, *fov_statistics(tensor, fov_tensor), normalize_mode)[None]
    probs = predict_tiled(model, tensor, tile, overlap)[0, 0].numpy().astype(np.float32)
    if probs.shape != (height, width):
        probs = resize(probs, (width, height), Image.BILINEAR)
    return np.clip(probs, 0.0, 1.0)
