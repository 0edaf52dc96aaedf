"""Inference on any image size in bounded memory: overlapping tiles, averaged where they meet."""

from __future__ import annotations

from collections.abc import Callable

import torch


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of side `tile` covering `size` pixels, adjacent ones sharing at
    least `overlap` pixels; the last tile ends exactly at the border."""
    if size <= tile:
        return [0]
    step = max(1, tile - overlap)
    starts = list(range(0, size - tile, step))
    return [*starts, size - tile]


@torch.no_grad()
def predict_tiled(
    predict: Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    tile: int = 512,
    overlap: int = 32,
) -> torch.Tensor:
    """(1, 1, H, W) output of `predict` for a (1, C, H, W) image, computed tile by tile.

    Memory grows with the tile, not the image: a 3,500 x 2,300 photograph costs what one tile
    does, plus the (H, W) sums. The overlap keeps the border effects of each tile away from
    the result where a neighbouring tile sees further.
    """
    if tile <= overlap:
        raise ValueError(f"tile ({tile}) must be larger than overlap ({overlap})")
    height, width = image.shape[-2:]
    total = torch.zeros(1, 1, height, width)
    count = torch.zeros(1, 1, height, width)
    for top in tile_starts(height, tile, overlap):
        for left in tile_starts(width, tile, overlap):
            window = (..., slice(top, top + tile), slice(left, left + tile))
            total[window] += predict(image[window]).float().cpu()
            count[window] += 1
    return total / count
