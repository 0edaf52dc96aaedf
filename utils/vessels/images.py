"""Images for people: tensors as 8-bit RGB, PNG files, and rows of panels sent to the loggers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch


def to_rgb_uint8(tensor: torch.Tensor) -> torch.Tensor:
    """A (1 or 3, H, W) tensor in [0, 1] as a (3, H, W) uint8 image."""
    tensor = tensor.detach().float().cpu().clamp(0.0, 1.0)
    if tensor.shape[0] == 1:
        tensor = tensor.expand(3, -1, -1)
    return (tensor * 255.0).round().to(torch.uint8)


def log_image_row(loggers: Sequence, tag: str, step: int, panels: Sequence[torch.Tensor]) -> None:
    """Log panels of the same size, side by side, to every logger.

    TensorBoard and W&B get them through their own image API; a logger without one (CSV) gets
    PNG files in <its log_dir>/images/<tag>/<step>.png.
    """
    row = torch.cat([to_rgb_uint8(panel) for panel in panels], dim=-1)
    for logger in loggers:
        writer = getattr(logger, "experiment", None)
        if hasattr(writer, "add_image"):  # TensorBoard's SummaryWriter
            writer.add_image(tag, row, global_step=step, dataformats="CHW")
        elif hasattr(logger, "log_image"):  # Weights & Biases and others
            logger.log_image(key=tag, images=[row.permute(1, 2, 0).numpy()], step=step)
        elif getattr(logger, "log_dir", None):
            folder = Path(logger.log_dir) / "images" / tag.replace("/", "_")
            folder.mkdir(parents=True, exist_ok=True)
            save_png(row, folder / f"{step:07d}.png")


def save_png(image: torch.Tensor, path: Path) -> None:
    """Save a (3, H, W) uint8 tensor as PNG."""
    from PIL import Image

    Image.fromarray(image.permute(1, 2, 0).numpy()).save(path)
