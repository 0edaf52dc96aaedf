"""Helpers shared by models and callbacks."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def to_rgb_uint8(tensor: torch.Tensor) -> torch.Tensor:
    """A (1 or 3, H, W) tensor in [0, 1] as a (3, H, W) uint8 image."""
    tensor = tensor.detach().float().cpu().clamp(0.0, 1.0)
    if tensor.shape[0] == 1:
        tensor = tensor.expand(3, -1, -1)
    return (tensor * 255.0).round().to(torch.uint8)


def log_image_row(loggers: Sequence, tag: str, step: int, panels: Sequence[torch.Tensor]) -> None:
    """Log panels of the same size, side by side, to every logger that can take images."""
    row = torch.cat([to_rgb_uint8(panel) for panel in panels], dim=-1)
    for logger in loggers:
        writer = getattr(logger, "experiment", None)
        if hasattr(writer, "add_image"):  # TensorBoard's SummaryWriter
            writer.add_image(tag, row, global_step=step, dataformats="CHW")
        elif hasattr(logger, "log_image"):  # Weights & Biases and others
            logger.log_image(key=tag, images=[row.permute(1, 2, 0).numpy()], step=step)
