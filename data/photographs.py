"""Fundus photographs from the wild: any file PIL reads, its field of view, and its statistics.

Training data comes with field-of-view (FOV) masks; a clinic's JPEGs usually do not. The FOV is
then estimated: the camera's aperture is the bright disc on a black surround, so a threshold of
brightness, then morphology (opening against specks, closing and hole filling against dark
vessels and lesions, the largest component against reflections) recovers it. The statistics are
simple on purpose, so that a flag such as "darker than any training image" explains itself.
"""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
from PIL import Image

from data.manifest import DataError, decode_image

# What predict.py reads: every format PIL decodes that photographs come in.
SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".ppm", ".pgm", ".bmp", ".gif")
STATISTICS = ("brightness", "contrast", "sharpness", "red", "blue", "fov_diameter", "fov_coverage")


def read_photograph(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of any image PIL reads; grey images are repeated over the channels."""
    return decode_image(path, "RGB")


def read_mask(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool of a mask or label file (anything above half intensity), checked for size."""
    mask = decode_image(path, "L") > 127
    if mask.shape != shape:
        raise DataError(
            f"{path}: size {mask.shape[1]}x{mask.shape[0]} differs from its photograph "
            f"({shape[1]}x{shape[0]}); they must match."
        )
    return mask


def estimate_fov(image: np.ndarray, working_side: int = 512) -> np.ndarray:
    """(H, W) bool field of view of an (H, W, 3) uint8 photograph; all False for a blank one.

    The aperture is found on a copy whose longer side is `working_side` pixels, so a large
    photograph costs what a small one does, then scaled back to the photograph's pixels.
    """
    from scipy import ndimage

    height, width = image.shape[:2]
    brightness = Image.fromarray(image.max(axis=2))
    factor = working_side / max(height, width)
    if factor < 1:
        small = (max(1, round(width * factor)), max(1, round(height * factor)))
        brightness = brightness.resize(small, Image.BILINEAR)
    brightness = np.asarray(brightness, np.float32)
    top = float(np.percentile(brightness, 99))
    if top < 20:  # a black or nearly black photograph has no aperture to find
        return np.zeros((height, width), bool)
    mask = brightness > 0.15 * top
    size = max(3, round(min(mask.shape) / 100))
    mask = ndimage.binary_opening(mask, structure=np.ones((size, size)))
    mask = ndimage.binary_closing(mask, structure=np.ones((3 * size, 3 * size)), border_value=0)
    mask = ndimage.binary_fill_holes(mask)
    labels, count = ndimage.label(mask)
    if count > 1:
        sizes = np.bincount(labels.ravel())[1:]
        mask = labels == 1 + int(np.argmax(sizes))
    if mask.shape != (height, width):
        mask = np.asarray(Image.fromarray(mask).resize((width, height), Image.NEAREST))
    return mask


def fov_diameter(fov: np.ndarray) -> float:
    """Diameter in pixels of the disc whose area equals the FOV's."""
    return float(2.0 * np.sqrt(fov.sum() / np.pi))


def image_statistics(image: np.ndarray, fov: np.ndarray) -> dict[str, float]:
    """Explainable statistics of a photograph inside its FOV (0-255 scale where it applies).

    brightness: mean green; contrast: standard deviation of green over its mean; sharpness: mean
    absolute Laplacian of green; red and blue: channel means; fov_diameter in pixels; and
    fov_coverage, the share of the photograph inside the FOV.
    """
    if not fov.any():
        return {name: 0.0 for name in STATISTICS}
    pixels = image[fov].astype(np.float64)
    green = image[..., 1].astype(np.float64)
    laplacian = np.abs(
        4 * green[1:-1, 1:-1]
        - green[:-2, 1:-1]
        - green[2:, 1:-1]
        - green[1:-1, :-2]
        - green[1:-1, 2:]
    )
    inner = fov[1:-1, 1:-1] & fov[:-2, 1:-1] & fov[2:, 1:-1] & fov[1:-1, :-2] & fov[1:-1, 2:]
    mean_green = float(pixels[:, 1].mean())
    return {
        "brightness": mean_green,
        "contrast": float(pixels[:, 1].std() / max(mean_green, 1e-6)),
        "sharpness": float(laplacian[inner].mean()) if inner.any() else 0.0,
        "red": float(pixels[:, 0].mean()),
        "blue": float(pixels[:, 2].mean()),
        "fov_diameter": fov_diameter(fov),
        "fov_coverage": float(fov.mean()),
    }


def summarise(rows: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """{statistic: {min, median, max}} over the rows of several images."""
    return {
        name: {
            "min": float(np.min([row[name] for row in rows])),
            "median": float(np.median([row[name] for row in rows])),
            "max": float(np.max([row[name] for row in rows])),
        }
        for name in rows[0]
    }


def find_photographs(where: str) -> list[Path]:
    """The photographs `where` names: a folder (its files with an image suffix), a glob
    pattern, or one file. Raises DataError when it names nothing."""
    path = Path(where)
    if any(char in where for char in "*?["):
        found = sorted(Path(p) for p in glob.glob(where, recursive=True) if Path(p).is_file())
    elif path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    elif path.is_file():
        found = [path]
    else:
        raise DataError(f"input={where} does not exist: give a folder, a glob or an image file.")
    if not found:
        raise DataError(
            f"input={where} holds no photograph (files ending in {', '.join(SUFFIXES)})."
        )
    return found


def pair_by_stem(photos: list[Path], folder: str | None) -> tuple[dict[Path, Path], list[Path]]:
    """Match the files of `folder` (labels or masks) to photographs by name; return the pairs
    and the files of `folder` that match no photograph.

    The rule: a file belongs to a photograph when its name without suffix equals the
    photograph's, or starts with it followed by `_`, `-` or `.` (`07.jpg` <- `07_mask.png`);
    failing that, when both start with the same token before the first `_` and no other
    photograph shares that token (DRIVE: `01_test.tif` <- `01_manual1.gif`).
    """
    if folder is None:
        return {}, []
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder: give the folder of the labels or masks.")
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    tokens: dict[str, list[Path]] = {}
    for photo in photos:
        tokens.setdefault(photo.stem.split("_")[0], []).append(photo)
    pairs, unmatched = {}, []
    for file in files:
        match = next(
            (
                p
                for p in photos
                if file.stem == p.stem
                or file.stem[: len(p.stem) + 1] in (f"{p.stem}_", f"{p.stem}-", f"{p.stem}.")
            ),
            None,
        )
        sharing = tokens.get(file.stem.split("_")[0], [])
        if match is None and len(sharing) == 1:
            match = sharing[0]
        if match is None or match in pairs:
            unmatched.append(file)
        else:
            pairs[match] = file
    return pairs, unmatched
