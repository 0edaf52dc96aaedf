"""A synthetic stand-in for DRIVE: fundus-like photographs with branching vessel trees.

Writes DRIVE's exact layout and formats (see data/drive.py), so the same loaders read both:
565x584 RGB LZW-compressed TIFF images, vessel labels and field-of-view masks as 0/255 GIFs, and
a second observer's labels for the test set. Each image has its own generator seeded from
(seed, subset, id): the same seed gives byte-identical files whatever the number of images.
Faint blurred vessels, thin capillaries, uneven light, background texture, dark blobs and bright
spots make it measure like DRIVE (python -m data.likeness) and as hard to segment: the U-Net
recipe scores about what it scores on DRIVE, and a global green threshold far less.

    python -m data.synthetic --root data/synthetic --seed 0
    python -m data.synthetic --root data/other_camera --camera other   # a shifted variant
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from data.drive import sample_files, save_binary
from data.manifest import DataError
from utils.base import UserError, exit_cleanly_on

WIDTH, HEIGHT = 565, 584
# Bumped whenever the generator draws different images: data.prepare regenerates a set that an
# other version wrote (its synthetic.json says which), instead of training on stale data. The
# marker is also what makes a folder the generator's own: it writes into no other non-empty one.
VERSION = 3
MARKER = "synthetic.json"
CAMERAS = ("drive", "other")  # other: the same eyes through another camera (through_other_camera)
# What may stay in the folder while `dvc repro` regenerates it (DVC deletes the generator's
# outputs, the marker included, before the stage runs): the prepare stage's outputs and DVC's own.
PIPELINE_LEFTOVERS = {".gitignore", "train.txt", "validate.txt", "test.txt", "normalization.json"}
FIRST_TRAINING_ID = 21  # DRIVE numbers test images 01-20 and training images 21-40
SUBSET_CODES = {"training": 0, "test": 1}  # part of each image's seed
# How much a vessel darkens each channel for a given contrast: blood absorbs green most.
VESSEL_ABSORPTION = np.array([0.35, 1.0, 0.6], dtype=np.float32)
# Tuned so that the training images measure like DRIVE's (data/likeness.py; tests/test_data.py
# holds them within 20%): a network then scores on this data about what it scores on DRIVE.
CONTRAST_SCALE = 0.33  # vessels darken green by 12-20%: 0.5 of the FOV's spread (DRIVE 0.47)
WIDTH_BIAS = 0.45  # rounds most capillaries up to 2 px: 7% of vessel pixels 1 px wide (DRIVE 7%)
SMALL_TREES = (3, 6)  # small trees beside the four main ones: 12% vessel pixels (DRIVE 12.5%)
LIGHT = 0.65  # share of the illumination gradients kept: non-uniformity 0.12 (DRIVE 0.11)
TEXTURE = 0.12  # a choroid-like background texture of ~7 px grains, for vessels to stand out of
NOISE = 0.02  # sensor noise, in [0, 1] units
BLUR = 1.0  # optical blur of the vessels (Gaussian sigma, pixels)
STEP = 5.0  # pixels a vessel advances per step of its random walk
Point = tuple[float, float]  # (x, y) in pixels


def fov_mask(centre: Point, radius: float) -> np.ndarray:
    """(H, W) bool disc of the camera's field of view; centre is (x, y) in pixels."""
    rows, cols = np.ogrid[0:HEIGHT, 0:WIDTH]
    return (cols - centre[0]) ** 2 + (rows - centre[1]) ** 2 <= radius**2


def _smooth_noise(rng: np.random.Generator, cells: int) -> np.ndarray:
    """(H, W) float32 noise in [-0.5, 0.5] that varies over about WIDTH / cells pixels."""
    coarse = Image.fromarray(rng.integers(0, 256, (cells, cells), dtype=np.uint8))
    return np.asarray(coarse.resize((WIDTH, HEIGHT), Image.BICUBIC), np.float32) / 255 - 0.5


def _add_spot(image: np.ndarray, centre: Point, sigma: float, rgb: np.ndarray) -> None:
    """Add a Gaussian spot of peak `rgb` (negative darkens), computed on a local patch only."""
    reach = int(3 * sigma) + 1
    x, y = int(centre[0]), int(centre[1])
    top, left = max(0, y - reach), max(0, x - reach)
    rows, cols = np.ogrid[top : min(HEIGHT, y + reach), left : min(WIDTH, x + reach)]
    spot = np.exp(-((cols - centre[0]) ** 2 + (rows - centre[1]) ** 2) / (2 * sigma**2))
    image[top : top + spot.shape[0], left : left + spot.shape[1]] += spot[..., None] * rgb


def fundus_background(
    rng: np.random.Generator, centre: Point, radius: float, disc: Point, macula: Point
) -> np.ndarray:
    """(H, W, 3) float32 retina, about [0, 1]: orange, unevenly lit, bright disc, dark macula."""
    colour = np.array(
        [rng.uniform(0.75, 0.9), rng.uniform(0.36, 0.46), rng.uniform(0.12, 0.2)], np.float32
    )
    rows, cols = np.ogrid[0:HEIGHT, 0:WIDTH]
    angle = rng.uniform(0, 2 * math.pi)
    # Light falls off along one direction and towards the rim, differently in every photo: the
    # same green value is vessel in one place and background in another.
    slope = ((cols - centre[0]) * math.cos(angle) + (rows - centre[1]) * math.sin(angle)) / radius
    rim = ((cols - centre[0]) ** 2 + (rows - centre[1]) ** 2) / radius**2
    light = 1 + rng.uniform(0.15, 0.3) * slope - rng.uniform(0.15, 0.3) * rim
    light += rng.uniform(0.15, 0.25) * _smooth_noise(rng, 4) + 0.06 * _smooth_noise(rng, 40)
    light = 1 + LIGHT * (light - 1) + TEXTURE * _smooth_noise(rng, 80)
    image = colour * light.astype(np.float32)[..., None]
    _add_spot(image, disc, rng.uniform(22, 28), np.array([0.25, 0.4, 0.3]))
    _add_spot(image, macula, rng.uniform(35, 50), -colour * rng.uniform(0.2, 0.3))
    return image


@dataclass
class Vessel:
    """A stretch of vessel still to grow: where it starts and how it looks."""

    start: Point
    heading: float  # radians, in image coordinates (y points down)
    width: float  # pixels
    contrast: float  # fraction of the green channel it absorbs, before blurring
    bend: float = 0.0  # radians per step: the main arcades curve around the macula
    seen_by_second_observer: bool = True


class VesselPainter:
    """Grows vessel trees and draws them into both observers' labels and a darkening map."""

    def __init__(self, rng: np.random.Generator, fov: np.ndarray, macula: Point) -> None:
        self.rng, self.fov, self.macula = rng, fov, macula
        names = ("label", "label2", "dark")
        self.layers = {name: Image.new("L", (WIDTH, HEIGHT)) for name in names}
        self.pens = {name: ImageDraw.Draw(layer) for name, layer in self.layers.items()}

    def grow_tree(self, root: Vessel) -> None:
        """Grow a tree: each stretch walks on, then forks into a wide and a thin branch."""
        rng, pending = self.rng, [root]
        while pending:
            vessel = pending.pop()
            points, direction, inside = self._walk(vessel)
            self._draw(vessel, points)
            if not inside or vessel.width < 1.25:
                continue
            side = rng.choice([-1, 1])
            for share, turn in ((rng.uniform(0.85, 0.95), 0.2), (rng.uniform(0.45, 0.7), 1.0)):
                width = vessel.width * share
                pending.append(
                    Vessel(
                        start=points[-1],
                        heading=direction + side * turn * rng.uniform(0.4, 1.2),
                        width=width,
                        contrast=vessel.contrast * rng.uniform(0.85, 1.1),
                        bend=vessel.bend * 0.7 if turn < 0.5 else 0.0,
                        # The second observer misses some capillaries, and all they feed.
                        seen_by_second_observer=vessel.seen_by_second_observer
                        and (width >= 2 or rng.random() < 0.7),
                    )
                )
                side = -side

    def _walk(self, vessel: Vessel) -> tuple[list[Point], float, bool]:
        """Random-walk one stretch: its points, final course, and whether it can go on."""
        rng = self.rng
        points, direction, wiggle = [vessel.start], vessel.heading, 0.0
        for _ in range(rng.integers(10, 25)):
            # Tortuosity: the heading wiggles about a course that itself drifts slowly.
            direction += vessel.bend + rng.normal(0, 0.04)
            wiggle = 0.75 * wiggle + rng.normal(0, 0.15)
            x = points[-1][0] + STEP * math.cos(direction + wiggle)
            y = points[-1][1] + STEP * math.sin(direction + wiggle)
            if not (0 <= x < WIDTH and 0 <= y < HEIGHT and self.fov[int(y), int(x)]):
                return points, direction, False
            points.append((x, y))
            if math.dist((x, y), self.macula) < 30:  # the fovea has no vessels
                return points, direction, False
        return points, direction, True

    def _draw(self, vessel: Vessel, points: list[Point]) -> None:
        width = max(1, round(vessel.width + WIDTH_BIAS))
        darkness = round(255 * vessel.contrast * CONTRAST_SCALE)
        self.pens["label"].line(points, fill=255, width=width, joint="curve")
        # What the photograph shows and what the observer traced differ by up to a pixel.
        seen = max(1, width + int(self.rng.choice([-1, 0, 0, 1])))
        self.pens["dark"].line(points, fill=darkness, width=seen, joint="curve")
        if vessel.seen_by_second_observer:
            # Observers disagree on the exact edges: widths differ by up to a pixel.
            width2 = max(1, width + int(self.rng.integers(-1, 2)))
            self.pens["label2"].line(points, fill=255, width=width2, joint="curve")

    def results(self) -> dict[str, np.ndarray]:
        """Crisp binary labels, and the darkening map (0-1) softened like an optical image."""
        dark = self.layers["dark"].filter(ImageFilter.GaussianBlur(BLUR))
        return {
            "label": np.asarray(self.layers["label"]) > 0,
            "label2": np.asarray(self.layers["label2"]) > 0,
            "dark": np.asarray(dark, np.float32) / 255,
        }


def grow_vessels(
    rng: np.random.Generator, fov: np.ndarray, disc: Point, macula: Point, side: int
) -> dict[str, np.ndarray]:
    """Four main trees leave the optic disc (two arch around the macula), and a few small ones.

    `side` is +1 when the disc is right of the centre, -1 when left.
    """
    painter = VesselPainter(rng, fov, macula)
    temporal = math.pi if side > 0 else 0.0  # from the disc towards the macula
    for up_down in (-1, 1):
        arcade = math.atan2(up_down * 0.95, -side * 0.3) + rng.normal(0, 0.1)
        nasal = math.atan2(up_down * 0.6, side * 0.8) + rng.normal(0, 0.25)
        bend = up_down * side * rng.uniform(0.02, 0.03)
        painter.grow_tree(Vessel(disc, arcade, rng.uniform(6.5, 8), rng.uniform(0.45, 0.6), bend))
        painter.grow_tree(Vessel(disc, nasal, rng.uniform(5, 6.5), rng.uniform(0.4, 0.55)))
    for _ in range(rng.integers(*SMALL_TREES)):
        heading = temporal + rng.uniform(-0.5, 0.5)
        painter.grow_tree(Vessel(disc, heading, rng.uniform(2.5, 4), rng.uniform(0.35, 0.5)))
    return painter.results()


def add_lesions(rng: np.random.Generator, image: np.ndarray, fov: np.ndarray) -> None:
    """Dark blobs (haemorrhages, 5-20 px) and bright spots (exudates): traps for a threshold."""
    inside = np.argwhere(fov)
    for _ in range(rng.integers(3, 9)):
        row, col = inside[rng.integers(len(inside))]
        darkness = rng.uniform(0.25, 0.5) * np.array([0.5, 1.0, 0.8]) * image[row, col]
        _add_spot(image, (col, row), rng.uniform(2, 6), -darkness)
    for _ in range(rng.integers(3, 10)):
        row, col = inside[rng.integers(len(inside))]
        brightness = rng.uniform(0.15, 0.3) * np.array([1.0, 0.9, 0.3])
        _add_spot(image, (col, row), rng.uniform(1.5, 4), brightness)


def synthesise(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One sample: `image` (H, W, 3) uint8; `label`, `label2` and `fov` (H, W) bool."""
    centre = (WIDTH / 2 + rng.uniform(-4, 4), HEIGHT / 2 + rng.uniform(-4, 4))
    radius = rng.uniform(265, 275)
    fov = fov_mask(centre, radius)
    side = int(rng.choice([-1, 1]))  # optic disc right (+1) or left (-1) of the centre
    disc = (centre[0] + side * rng.uniform(0.5, 0.62) * radius, centre[1] + rng.uniform(-25, 25))
    macula = (centre[0] - side * rng.uniform(0.05, 0.15) * radius, disc[1] + rng.uniform(-10, 20))
    image = fundus_background(rng, centre, radius, disc, macula)
    vessels = grow_vessels(rng, fov, disc, macula, side)
    image *= 1 - vessels["dark"][..., None] * VESSEL_ABSORPTION
    add_lesions(rng, image, fov)
    image += rng.normal(0, NOISE, image.shape).astype(np.float32)  # sensor noise
    image *= fov[..., None]
    return {
        "image": (np.clip(image, 0, 1) * 255).round().astype(np.uint8),
        "label": vessels["label"] & fov,
        "label2": vessels["label2"] & fov,
        "fov": fov,
    }


def through_other_camera(
    sample: dict[str, np.ndarray], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """The same eye photographed by another camera, modelled on how a real second camera's
    photographs differ from DRIVE's: each exposed on its own (gain 0.55 to 0.9 and gamma 1.3 to
    1.7, beyond what data.augment jitters), lit unevenly (a broad glow off-centre), a warmer
    balance with blue muted, softer (a Gaussian blur of 1.2 px) and at 1.3 times the resolution.
    Labels follow the resolution. What the shift report and data.normalize / data.augment are
    measured against (README, "Another labelled dataset")."""
    image = sample["image"].astype(np.float32) / 255
    height, width = image.shape[:2]
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    glow_x = width / 2 + 0.3 * width * math.cos(angle)
    glow_y = height / 2 + 0.3 * height * math.sin(angle)
    distance = ((cols - glow_x) ** 2 + (rows - glow_y) ** 2) / (0.45 * width) ** 2
    light = 0.65 + 0.5 * np.exp(-distance)  # from 1.15 under the glow to about 0.7 across the eye
    image = image * light[..., None] * rng.uniform(0.55, 0.9)
    image = np.clip(image, 0, 1) ** rng.uniform(1.3, 1.7) * np.array([1.2, 1.0, 0.6], np.float32)
    photo = Image.fromarray((np.clip(image, 0, 1) * 255).round().astype(np.uint8))
    photo = photo.filter(ImageFilter.GaussianBlur(1.2))
    size = (round(WIDTH * 1.3), round(HEIGHT * 1.3))
    other = {"image": np.asarray(photo.resize(size, Image.BICUBIC))}
    for kind in ("label", "label2", "fov"):
        mask = Image.fromarray(sample[kind].astype(np.uint8) * 255).resize(size, Image.NEAREST)
        other[kind] = np.asarray(mask) > 127
    other["image"] = other["image"] * other["fov"][..., None]
    return other


def generate(
    root: Path, seed: int = 0, n_train: int = 20, n_test: int = 20, camera: str = "drive"
) -> None:
    """Write a synthetic vessel dataset in DRIVE's layout under `root`, replacing existing files.

    Training ids are 21..20+n_train and test ids 01..n_test, as in DRIVE. camera="other" makes
    the same eyes through another camera (`through_other_camera`).
    """
    root = Path(root)
    if camera not in CAMERAS:
        raise DataError(f"data.camera={camera!r}: expected one of {', '.join(CAMERAS)}.")
    require_own_folder(root)
    numbers = {
        "training": range(FIRST_TRAINING_ID, FIRST_TRAINING_ID + n_train),
        "test": range(1, n_test + 1),
    }
    for subset, ids in numbers.items():
        for number in ids:
            rng = np.random.default_rng([seed, SUBSET_CODES[subset], number])
            sample = synthesise(rng)
            if camera == "other":  # drawn after the eye, so each eye is the built-in one
                sample = through_other_camera(sample, rng)
            for kind, name in sample_files(subset, number).items():
                path = root / name
                path.parent.mkdir(parents=True, exist_ok=True)
                if kind == "image":
                    Image.fromarray(sample["image"]).save(path, compression="tiff_lzw")
                else:
                    save_binary(sample[kind], path)
    made = {
        "version": VERSION,
        "seed": seed,
        "n_train": n_train,
        "n_test": n_test,
        "camera": camera,
    }
    (root / MARKER).write_text(json.dumps(made) + "\n")


def require_own_folder(root: Path) -> None:
    """Raise a DataError unless `root` is absent, empty, or a set this generator wrote (it holds
    MARKER): generating replaces files, and a folder holding anything else is someone's data."""
    root = Path(root)
    if not root.is_dir() or (root / MARKER).is_file():
        return
    found = sorted(path.name for path in root.iterdir() if path.name not in PIPELINE_LEFTOVERS)
    if found:
        shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
        raise DataError(
            f"{root} holds files the synthetic generator did not write ({shown}), so it "
            f"generates nothing there: it writes only into an empty folder or one it made (with "
            f"{MARKER}). For your own data set data.source=null (in conf/data/<name>.yaml: "
            "`defaults: [manifests, _self_]`); for the built-in data choose an empty data.root."
        )


def outdated(root: Path, camera: str = "drive") -> str | None:
    """Why the synthetic set in `root` must be generated (None when it is current, through
    `camera`); raises a DataError for a folder the generator did not make (`require_own_folder`)."""
    require_own_folder(root)
    marker = Path(root) / MARKER
    if not marker.is_file():
        return "it does not exist yet"
    try:
        made = json.loads(marker.read_text())
        version, made_camera = made.get("version"), made.get("camera", "drive")
    except (OSError, ValueError, AttributeError):
        version = made_camera = None
    if version != VERSION:
        return f"it was made by another generator version ({version}, now {VERSION})"
    if made_camera != camera:
        return f"it was made through camera {made_camera!r}, not {camera!r}"
    return None


@exit_cleanly_on(UserError)
def main() -> None:
    parser = argparse.ArgumentParser(description="Generate a synthetic dataset in DRIVE's layout.")
    parser.add_argument("--root", type=Path, default=Path("data/synthetic"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-train", type=int, default=20)
    parser.add_argument("--n-test", type=int, default=20)
    parser.add_argument(
        "--camera",
        choices=CAMERAS,
        default="drive",
        help="other: see through_other_camera",
    )
    args = parser.parse_args()
    generate(args.root, args.seed, args.n_train, args.n_test, args.camera)
    print(f"Wrote {args.n_train} training and {args.n_test} test images to {args.root}")


if __name__ == "__main__":
    main()
