"""Split manifests and the files they list.

A manifest (`train.txt`, `validate.txt`, `test.txt`) holds one sample per line: the paths of the
image, its vessel label and its field-of-view (FOV) mask, separated by whitespace and relative to
the manifest's folder. Blank lines and lines starting with `#` are ignored.

Only numpy and PIL are imported here, so `python -m data.prepare` starts fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from utils.base import UserError

SPLITS = ("train", "validate", "test")


class DataError(UserError):
    """Bad or missing data: the message names the file at fault and how to fix it."""


@dataclass(frozen=True)
class Sample:
    """Paths of one sample, relative to the dataset root."""

    image: str
    label: str
    fov: str

    @property
    def name(self) -> str:
        """Short identifier used in result files: the image file name without extension."""
        return Path(self.image).stem


@dataclass
class DecodedSample:
    """One decoded sample: image (H, W, 3) uint8, label and fov (H, W) bool."""

    name: str
    image: np.ndarray
    label: np.ndarray
    fov: np.ndarray


def manifest_path(root: Path, split: str) -> Path:
    """Path of a split's manifest, e.g. `data/synthetic/train.txt`."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    return Path(root) / f"{split}.txt"


def write_manifest(path: Path, samples: list[Sample]) -> None:
    """Write samples to a manifest, one `image label fov` line each."""
    lines = [f"{s.image} {s.label} {s.fov}" for s in samples]
    write_atomically(Path(path), "\n".join(lines) + "\n")


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then rename it into place: a process
    reading `path` meanwhile sees the old file or the new one, never half of one."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def read_manifest(path: Path) -> list[Sample]:
    """Read a manifest; raises DataError on a missing file, a malformed line or an empty split."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"manifest {path} does not exist. Create it with `python -m data.prepare` "
            "or write it by hand: one `image label fov` line per sample."
        )
    samples = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) != 3:
            raise DataError(
                f"{path}:{number}: expected 3 paths (image, label, fov), found {len(fields)}: "
                f"{line.strip()!r}"
            )
        samples.append(Sample(*fields))
    if not samples:
        raise DataError(f"manifest {path} lists no samples; every split needs at least one.")
    return samples


def split_leaks(root: Path, splits: dict[str, list[Sample]]) -> list[str]:
    """A problem line for each image listed in more than one split (it would leak test data)."""
    problems, seen = [], {}
    for split, samples in splits.items():
        for sample in samples:
            if seen.setdefault(sample.image, split) != split:
                problems.append(
                    f"{Path(root) / sample.image} is in both {seen[sample.image]!r} and "
                    f"{split!r}; a sample must belong to one split only"
                )
    return problems


def decode_image(path: Path, mode: str) -> np.ndarray:
    """The image file at `path` as an array in PIL's `mode` ("RGB": (H, W, 3), "L": (H, W)), any
    format PIL reads; a file that cannot be decoded raises a DataError naming it."""
    try:
        with Image.open(path) as image:
            return np.array(image.convert(mode))
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise DataError(
            f"{path} cannot be decoded as an image ({error}). The file is corrupt "
            "or truncated: replace it with an intact copy."
        ) from error


def _open_image(path: Path, mode: str) -> np.ndarray:
    if not path.is_file():
        raise DataError(
            f"{path} does not exist (listed in a manifest). Fix the manifest or "
            "restore the file, then run `python -m data.prepare` again."
        )
    return decode_image(path, mode)


def _binary(array: np.ndarray, path: Path, what: str) -> np.ndarray:
    values = np.unique(array)
    if not set(values.tolist()) <= {0, 255}:
        shown = ", ".join(str(v) for v in values[:8])
        raise DataError(
            f"{path}: a {what} must hold only 0 and 255, found values {shown}. "
            "Binarise it (e.g. pixel > 127 -> 255) before training."
        )
    return array == 255


def load_sample(root: Path, sample: Sample) -> DecodedSample:
    """Decode and check one sample: readable files, same size, binary label and FOV mask."""
    root = Path(root)
    image = _open_image(root / sample.image, "RGB")
    label = _open_image(root / sample.label, "L")
    fov = _open_image(root / sample.fov, "L")
    for path, array in ((sample.label, label), (sample.fov, fov)):
        if array.shape != image.shape[:2]:
            raise DataError(
                f"{root / path}: size {array.shape[1]}x{array.shape[0]} differs from its image "
                f"{root / sample.image} ({image.shape[1]}x{image.shape[0]}); they must match."
            )
    fov = _binary(fov, root / sample.fov, "field-of-view mask")
    if not fov.any():
        raise DataError(
            f"{root / sample.fov}: the field-of-view mask is empty, so nothing would be "
            "scored. Mark the region to score with 255."
        )
    return DecodedSample(
        name=sample.name,
        image=image,
        label=_binary(label, root / sample.label, "vessel label"),
        fov=fov,
    )
