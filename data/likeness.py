"""How much a dataset in DRIVE's layout looks like DRIVE: four statistics of its training images.

    python -m data.likeness data/synthetic          # the built-in data
    python -m data.likeness data/DRIVE              # the real DRIVE, once unzipped

All are measured on the green channel (where vessels show most), inside the field of view, per
image, then given as mean and standard deviation over the images:

- `vessel_fraction`: share of FOV pixels labelled vessel;
- `contrast`: (mean of background - mean of vessel) / standard deviation of the FOV: how far a
  vessel stands out of everything else in the photograph;
- `thin_fraction`: share of vessel pixels on a 1-pixel-wide cross-section (background on both
  sides along a row or a column): how much of the tree is capillaries at the limit of resolution;
- `illumination`: standard deviation / mean of the background's mean over 64 x 64 blocks that lie
  inside the FOV: how uneven the lighting is across the photograph.

The synthetic generator (data/synthetic.py) is tuned to DRIVE's figures, which are kept in
`DRIVE_TRAINING` (measured on DRIVE's 20 training images); tests/test_data.py holds it there.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from data.drive import find_samples
from data.manifest import load_sample
from utils.base import UserError, exit_cleanly_on

# Measured on DRIVE's 20 training images: mean and standard deviation over the images.
DRIVE_TRAINING = {
    "vessel_fraction": (0.125, 0.018),
    "contrast": (0.47, 0.20),
    "thin_fraction": (0.07, None),
    "illumination": (0.11, 0.07),
}
BLOCK = 64  # side of the blocks whose background means measure the illumination


def thin_pixels(label: np.ndarray) -> np.ndarray:
    """Vessel pixels with background on both sides along their row or along their column."""
    padded = np.pad(label, 1)
    left, right = padded[1:-1, :-2], padded[1:-1, 2:]
    up, down = padded[:-2, 1:-1], padded[2:, 1:-1]
    return label & ((~left & ~right) | (~up & ~down))


def image_likeness(green: np.ndarray, label: np.ndarray, fov: np.ndarray) -> dict[str, float]:
    """The four statistics of one image: green (H, W) float; label and fov (H, W) bool."""
    vessel, background = label & fov, ~label & fov
    block_means = []
    height, width = green.shape
    for top in range(0, height - BLOCK + 1, BLOCK):
        for left in range(0, width - BLOCK + 1, BLOCK):
            window = (slice(top, top + BLOCK), slice(left, left + BLOCK))
            if fov[window].all():
                block_means.append(green[window][background[window]].mean())
    return {
        "vessel_fraction": vessel.sum() / fov.sum(),
        "contrast": (green[background].mean() - green[vessel].mean()) / green[fov].std(),
        "thin_fraction": thin_pixels(vessel).sum() / max(vessel.sum(), 1),
        "illumination": np.std(block_means) / np.mean(block_means),
    }


def dataset_likeness(root: Path, subset: str = "training") -> dict[str, tuple[float, float]]:
    """(mean, standard deviation) over the images of `subset` of each statistic."""
    rows = []
    for sample in find_samples(root, subset):
        decoded = load_sample(root, sample)
        green = decoded.image[..., 1].astype(np.float64)
        rows.append(image_likeness(green, decoded.label, decoded.fov))
    return {
        key: (float(np.mean([r[key] for r in rows])), float(np.std([r[key] for r in rows])))
        for key in rows[0]
    }


@exit_cleanly_on(UserError)
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="a dataset in DRIVE's layout, e.g. data/synthetic")
    args = parser.parse_args()
    measured = dataset_likeness(args.root)
    print(f"{'statistic':<16} {str(args.root):>22} {'DRIVE (training)':>18}")
    for key, (mean, std) in measured.items():
        drive_mean, drive_std = DRIVE_TRAINING[key]
        drive = f"{drive_mean:.3f}" + (f" +- {drive_std:.3f}" if drive_std is not None else "")
        print(f"{key:<16} {mean:>12.3f} +- {std:.3f} {drive:>18}")


if __name__ == "__main__":
    main()
