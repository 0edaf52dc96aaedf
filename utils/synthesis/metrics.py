"""How close a synthesised photograph is to the real one, inside the field of view."""

from __future__ import annotations

import torch
from torch.nn import functional as F
from torchmetrics import MeanAbsoluteError, MeanMetric, MetricCollection
from torchmetrics.image import PeakSignalNoiseRatio

# The scores, as logged (val/<name>, test/<name>) and written to metrics.json.
SCORE_NAMES = ("l1", "psnr", "ssim")


def photograph_scores(prefix: str) -> MetricCollection:
    """L1, PSNR (data range 1) over the FOV pixels of a split, and SSIM averaged over its FOV
    pixels; fed by `update_scores`."""
    return MetricCollection(
        {
            "l1": MeanAbsoluteError(),
            "psnr": PeakSignalNoiseRatio(data_range=1.0),
            "ssim": MeanMetric(),
        },
        prefix=prefix,
        compute_groups=False,
    )


SSIM_RADIUS = 5  # torchmetrics' default window: 11 x 11 pixels


def ssim_inside(synthesised: torch.Tensor, real: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
    """(B,) mean SSIM of each image's FOV pixels whose whole window lies inside the FOV (the
    SSIM map of the whole image, both images black outside the FOV): a window that reaches the
    black surround would count its agreement there."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    # Its Gaussian filters are convolutions, which autocast (precision=bf16-mixed) would run in
    # bf16: far too coarse for a ratio of small variances.
    with torch.autocast(synthesised.device.type, enabled=False):
        _, full = structural_similarity_index_measure(
            synthesised.float(),
            real.float(),
            data_range=1.0,
            return_full_image=True,
            reduction="none",
        )
    side = 2 * SSIM_RADIUS + 1
    outside = F.max_pool2d((~fov.bool()).float(), side, stride=1, padding=SSIM_RADIUS)
    inside = (1 - outside).expand_as(full)
    return (full * inside).sum(dim=(1, 2, 3)) / inside.sum(dim=(1, 2, 3)).clamp(min=1)


def update_scores(
    scores: MetricCollection, synthesised: torch.Tensor, real: torch.Tensor, fov: torch.Tensor
) -> None:
    """Add a batch of (B, 3, H, W) synthesised and real photographs in [0, 1] with their
    (B, 1, H, W) FOV to `scores`."""
    # Black outside the FOV, whatever the generator or the camera put there.
    synthesised, real = synthesised * fov, real * fov
    inside = fov.expand_as(real)
    scores["l1"].update(synthesised[inside], real[inside])
    scores["psnr"].update(synthesised[inside], real[inside])
    scores["ssim"].update(ssim_inside(synthesised, real, fov))


def image_scores(synthesised: torch.Tensor, real: torch.Tensor, fov: torch.Tensor) -> dict:
    """{l1, psnr, ssim} of one (3, H, W) synthesised photograph against the real one, inside its
    (1, H, W) FOV: a row of per_image.csv."""
    scores = photograph_scores(prefix="")
    update_scores(scores, synthesised[None], real[None], fov[None])
    return {name: float(value) for name, value in scores.compute().items()}
