"""Per-image normalisation inside the field of view, the same in training, testing and prediction.

`data.normalize` chooses it: `none` keeps RGB in [0, 1]; `standardize` gives each channel zero
mean and unit spread inside the FOV; `green` keeps only the green channel (where vessels show
most, and what a grey photograph has), standardised, repeated over three channels so the nets
keep their input width. Standardising per image removes what differs between cameras and
exposures (brightness, contrast, colour cast) before the network sees it.
"""

from __future__ import annotations

import torch

MODES = ("none", "standardize", "green")


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"data.normalize={mode!r} is unknown; use one of {', '.join(MODES)}.")
    return mode


def fov_statistics(image: torch.Tensor, fov: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation (3,) of a (3, H, W) image inside its FOV."""
    inside = image[:, fov[0].bool()] if fov.any() else image.flatten(1)
    return inside.mean(dim=1), inside.std(dim=1).clamp(min=1e-3)


def normalize(
    image: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, mode: str
) -> torch.Tensor:
    """A (3, h, w) image in [0, 1] (or a crop), normalised with its whole image's statistics."""
    if mode == "none":
        return image
    if mode == "standardize":
        return (image - mean[:, None, None]) / std[:, None, None]
    return ((image[1:2] - mean[1]) / std[1]).expand(3, -1, -1).contiguous()
