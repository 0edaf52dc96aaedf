"""A synthetic stand-in for DRIVE: fundus-like images with branching vessel trees.

Writes DRIVE's exact layout and formats (see data/drive.py): 565x584 RGB LZW-compressed TIFF
images, vessel labels and field-of-view masks as 0/255 GIFs, and a second observer's labels for
the test set. Everything derives from the seed, one generator per image, so the same seed gives
the same files. Uneven illumination, dark blobs and bright spots make a global threshold of the
green channel clearly worse than a trained network.

    python -m data.synthetic --root data/synthetic --seed 0
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

WIDTH, HEIGHT = 565, 584
FIRST_TRAINING_ID = 21  # DRIVE numbers test images 01-20 and training images 21-40
# How much a vessel darkens each channel relative to its contrast: mostly green, as in fundus photos
VESSEL_ABSORPTION = np.array([0.45, 1.0, 0.7])


def _gaussian(shape: tuple[int, int], centre: tuple[float, float], sigma: float) -> np.ndarray:
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    return np.exp(-((cols - centre[0]) ** 2 + (rows - centre[1]) ** 2) / (2 * sigma**2))


def fov_disc(rng: np.random.Generator) -> tuple[np.ndarray, tuple[float, float], float]:
    """Boolean field-of-view disc, its centre (x, y) and radius in pixels."""
    centre = (WIDTH / 2 + rng.uniform(-4, 4), HEIGHT / 2 + rng.uniform(-4, 4))
    radius = rng.uniform(266, 274)
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    return (cols - centre[0]) ** 2 + (rows - centre[1]) ** 2 <= radius**2, centre, radius


def fundus_background(
    rng: np.random.Generator, centre: tuple[float, float], radius: float, disc: tuple[float, float]
) -> np.ndarray:
    """(H, W, 3) float background in [0, 1]: orange retina, optic disc, macula, uneven light."""
    colour = np.array([rng.uniform(0.70, 0.85), rng.uniform(0.33, 0.45), rng.uniform(0.12, 0.2)])
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    angle = rng.uniform(0, 2 * math.pi)
    slope = ((cols - centre[0]) * math.cos(angle) + (rows - centre[1]) * math.sin(angle)) / radius
    vignette = ((cols - centre[0]) ** 2 + (rows - centre[1]) ** 2) / radius**2
    light = 1.0 + rng.uniform(0.25, 0.45) * slope - rng.uniform(0.2, 0.35) * vignette
    # Low-frequency texture: a coarse random grid, smoothly enlarged.
    coarse = Image.fromarray(rng.uniform(0, 255, (10, 10)).astype(np.uint8))
    texture = np.asarray(coarse.resize((WIDTH, HEIGHT), Image.BICUBIC), dtype=float) / 255 - 0.5
    image = colour * (light + 0.12 * texture)[..., None]
    image += np.array([0.25, 0.35, 0.25]) * _gaussian((HEIGHT, WIDTH), disc, 30)[..., None]
    macula = (2 * centre[0] - disc[0] * 0.9, centre[1] + rng.uniform(-15, 15))
    image -= np.array([0.10, 0.08, 0.03]) * _gaussian((HEIGHT, WIDTH), macula, 45)[..., None]
    return image


class VesselPainter:
    """Draws branching vessel trees into a label, a second observer's label and a contrast map."""

    def __init__(self, rng: np.random.Generator, fov: np.ndarray) -> None:
        self.rng = rng
        self.fov = fov
        self.images = {
            name: Image.new("L", (WIDTH, HEIGHT)) for name in ("label", "label2", "dark")
        }
        self.draw = {name: ImageDraw.Draw(image) for name, image in self.images.items()}

    def tree(
        self, start: tuple[float, float], heading: float, width: float, level: int = 0
    ) -> None:
        """Grow one vessel by a tortuous random walk, then split it in two thinner branches."""
        rng = self.rng
        contrast = rng.uniform(0.25, 0.5) * min(1.0, 0.35 + width / 6)
        observer_width = max(1, round(width + rng.choice([-1, 0, 0, 1])))
        x, y = start
        for _ in range(int(rng.uniform(14, 30))):
            heading += rng.normal(0, 0.18)
            nx, ny = x + 7 * math.cos(heading), y + 7 * math.sin(heading)
            if not (0 <= nx < WIDTH and 0 <= ny < HEIGHT and self.fov[int(ny), int(nx)]):
                return
            segment = [(x, y), (nx, ny)]
            self.draw["label"].line(segment, fill=255, width=max(1, round(width)))
            if width >= 1.4 or rng.random() < 0.6:  # the second observer misses some capillaries
                self.draw["label2"].line(segment, fill=255, width=observer_width)
            self.draw["dark"].line(
                segment, fill=int(255 * contrast), width=max(1, round(width)) + 1
            )
            x, y = nx, ny
        if width > 1.1 and level < 7:
            spread = rng.uniform(0.35, 0.8)
            self.tree((x, y), heading + spread, width * rng.uniform(0.7, 0.85), level + 1)
            self.tree((x, y), heading - spread, width * rng.uniform(0.6, 0.8), level + 1)

    def arrays(self) -> dict[str, np.ndarray]:
        """Binary labels, and the vessel contrast map softened like an optical image."""
        dark = self.images["dark"].filter(ImageFilter.GaussianBlur(1.0))
        return {
            "label": np.asarray(self.images["label"]) > 0,
            "label2": np.asarray(self.images["label2"]) > 0,
            "dark": np.asarray(dark, dtype=float) / 255,
        }


def add_lesions(rng: np.random.Generator, image: np.ndarray, fov: np.ndarray) -> None:
    """Dark blobs (haemorrhages) and bright spots (exudates): traps for a global threshold."""
    inside = np.argwhere(fov)
    for _ in range(rng.integers(4, 10)):
        row, col = inside[rng.integers(len(inside))]
        blob = _gaussian(image.shape[:2], (col, row), rng.uniform(3, 9))
        image *= 1 - rng.uniform(0.3, 0.55) * blob[..., None] * np.array([0.6, 1.0, 0.9])
    for _ in range(rng.integers(3, 9)):
        row, col = inside[rng.integers(len(inside))]
        spot = _gaussian(image.shape[:2], (col, row), rng.uniform(2, 5))
        image += rng.uniform(0.15, 0.3) * spot[..., None] * np.array([1.0, 0.9, 0.3])


def synthesise(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One sample: `image` (H, W, 3) uint8; `label`, `label2`, `fov` (H, W) bool."""
    fov, centre, radius = fov_disc(rng)
    side = rng.choice([-1, 1])
    disc = (centre[0] + side * rng.uniform(0.45, 0.6) * radius, centre[1] + rng.uniform(-30, 30))
    image = fundus_background(rng, centre, radius, disc)
    painter = VesselPainter(rng, fov)
    for arcade in range(6):
        # Two big arcades above and below the disc, towards the macula, plus smaller ones.
        heading = (math.pi if side > 0 else 0.0) + (1 if arcade % 2 else -1) * rng.uniform(0.5, 1.1)
        if arcade >= 2:
            heading += math.pi + rng.normal(0, 0.4)
        painter.tree(
            disc, heading, width=rng.uniform(6.0, 8.0) if arcade < 2 else rng.uniform(4.0, 5.5)
        )
    vessels = painter.arrays()
    image *= 1 - vessels["dark"][..., None] * VESSEL_ABSORPTION
    add_lesions(rng, image, fov)
    image += rng.normal(0, 0.02, image.shape)
    image *= fov[..., None]
    pixels = (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
    return {
        "image": pixels,
        "label": vessels["label"] & fov,
        "label2": vessels["label2"] & fov,
        "fov": fov,
    }


def _save_binary(mask: np.ndarray, path: Path) -> None:
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)


def generate(root: Path, seed: int = 0, n_train: int = 20, n_test: int = 20) -> None:
    """Write a synthetic vessel dataset in DRIVE's layout under `root`, replacing existing files.

    Training ids are 21..20+n_train and test ids 01..n_test, as in DRIVE.
    """
    root = Path(root)
    subsets = {
        "training": range(FIRST_TRAINING_ID, FIRST_TRAINING_ID + n_train),
        "test": range(1, n_test + 1),
    }
    for code, (subset, ids) in enumerate(subsets.items()):
        folders = ["images", "1st_manual", "mask"] + (["2nd_manual"] if subset == "test" else [])
        for folder in folders:
            (root / subset / folder).mkdir(parents=True, exist_ok=True)
        for number in ids:
            sample = synthesise(np.random.default_rng([seed, code, number]))
            Image.fromarray(sample["image"]).save(
                root / subset / "images" / f"{number:02d}_{subset}.tif", compression="tiff_lzw"
            )
            _save_binary(
                sample["label"], root / subset / "1st_manual" / f"{number:02d}_manual1.gif"
            )
            _save_binary(sample["fov"], root / subset / "mask" / f"{number:02d}_{subset}_mask.gif")
            if subset == "test":
                _save_binary(
                    sample["label2"], root / subset / "2nd_manual" / f"{number:02d}_manual2.gif"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description="Generate a synthetic dataset in DRIVE's layout.")
    parser.add_argument("--root", type=Path, default=Path("data/synthetic"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-train", type=int, default=20)
    parser.add_argument("--n-test", type=int, default=20)
    args = parser.parse_args()
    generate(args.root, args.seed, args.n_train, args.n_test)
    print(f"Wrote {args.n_train} training and {args.n_test} test images to {args.root}")


if __name__ == "__main__":
    main()
