"""Input normalisation inside the field of view, the same in training, testing and prediction.

`data.normalize` chooses it:
- `dataset` (the default): each channel standardised with the mean and standard deviation of
  the training split's FOV pixels. They are computed once, when the data is prepared, into
  `<dataset>/normalization.json`; training copies them into the experiment's
  data_statistics.json, and test.py and predict.py use that copy, so an experiment is always
  fed as it was trained, whatever happens to the data folder later.
- `none` keeps RGB in [0, 1].
- `standardize` gives each channel of each image zero mean and unit spread inside its own FOV:
  it removes what differs between cameras and exposures (brightness, contrast, colour cast).
- `green` keeps only the green channel (where vessels show most, and what a grey photograph
  has), standardised per image, repeated over three channels so the nets keep their input width.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where it is used: data.prepare runs without it
    import torch

MODES = ("dataset", "none", "standardize", "green")
STATISTICS_FILE = "normalization.json"  # in the dataset folder, beside the manifests


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"data.normalize={mode!r} is unknown; use one of {', '.join(MODES)}.")
    return mode


def fov_statistics(image: torch.Tensor, fov: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation (3,) of a (3, H, W) image inside its FOV."""
    inside = image[:, fov[0].bool()] if fov.any() else image.flatten(1)
    return inside.mean(dim=1), inside.std(dim=1).clamp(min=1e-3)


def pooled_statistics(images: list[np.ndarray], fovs: list[np.ndarray]) -> dict[str, list[float]]:
    """{"mean": [r, g, b], "std": [r, g, b]} of all FOV pixels of (H, W, 3) uint8 images, in
    [0, 1] units: every pixel counts once, so a larger image weighs more."""
    count, total, squares = 0, np.zeros(3), np.zeros(3)
    for image, fov in zip(images, fovs, strict=True):
        pixels = image[fov].astype(np.float64) / 255.0
        count += len(pixels)
        total += pixels.sum(axis=0)
        squares += (pixels**2).sum(axis=0)
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 1e-6))
    return {"mean": [round(float(m), 6) for m in mean], "std": [round(float(s), 6) for s in std]}


def dataset_statistics(root: Path) -> dict[str, list[float]]:
    """The training split's statistics of the dataset in `root`, from its normalization.json.

    Computed and written when missing, or when train.txt changed since (the file keeps the
    manifest's hash): hand-written manifests get them on first use too.
    """
    from data.manifest import load_sample, manifest_path, read_manifest, write_atomically

    manifest = manifest_path(root, "train")
    digest = hashlib.sha256(manifest.read_bytes()).hexdigest()
    path = Path(root) / STATISTICS_FILE
    if path.is_file():
        try:
            kept = json.loads(path.read_text())
            if kept.get("train_manifest_sha256") == digest:
                return {"mean": kept["mean"], "std": kept["std"]}
        except (ValueError, KeyError, AttributeError):
            pass  # unreadable or from another version: computed again below
    decoded = [load_sample(root, sample) for sample in read_manifest(manifest)]
    statistics = pooled_statistics([d.image for d in decoded], [d.fov for d in decoded])
    record = {"train_manifest_sha256": digest, **statistics}
    write_atomically(path, json.dumps(record, indent=2) + "\n")
    return statistics


def normalize(
    image: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, mode: str
) -> torch.Tensor:
    """A (3, h, w) image in [0, 1] (or a crop), normalised with `mean` and `std` (3,): the
    dataset's for `dataset`, its whole image's for the per-image modes."""
    if mode == "none":
        return image
    if mode in ("dataset", "standardize"):
        return (image - mean[:, None, None]) / std[:, None, None]
    return ((image[1:2] - mean[1]) / std[1]).expand(3, -1, -1).contiguous()


def statistics_for(
    image: torch.Tensor, fov: torch.Tensor, mode: str, dataset: dict | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The (mean, std) that `normalize` needs for this image under `mode`."""
    import torch

    if mode == "dataset":
        if dataset is None:
            raise ValueError("data.normalize=dataset needs the training split's statistics")
        return torch.tensor(dataset["mean"]), torch.tensor(dataset["std"])
    return fov_statistics(image, fov)
