"""The pix2pix generator: a U-Net of 4x4 stride-2 convolutions (Isola et al., 2017).

Unlike the paper's image-to-image generator it ends without Tanh: it returns vessel logits, and
the caller's sigmoid turns them into a vessel probability map. `model=pix2pix_paper` trains with
it; `model=pix2pix` uses the baseline's U-Net (src/unet.py) instead, which learns vessels from its
first steps where this one stays blank for hundreds (README, "pix2pix on vessel maps").
"""

from __future__ import annotations

import torch
from torch import nn

from src.unet import check_positive, check_size

MAX_WIDTH_FACTOR = 8  # widths stop doubling at 8 * base_channels, as in the paper
DROPOUT_LEVELS = 3  # the paper drops out in the 3 decoder levels next to the innermost one


def init_pix2pix_weights(module: nn.Module) -> None:
    """pix2pix initialisation, for `net.apply`: conv weights N(0, 0.02), BatchNorm scale
    N(1, 0.02), biases 0."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def down_block(in_channels: int, out_channels: int, *, activate: bool, norm: bool) -> nn.Sequential:
    """[LeakyReLU 0.2] -> 4x4 stride-2 conv -> [BatchNorm]: halves H and W."""
    layers: list[nn.Module] = [nn.LeakyReLU(0.2)] if activate else []
    # A bias is redundant before BatchNorm, whose shift plays its role.
    layers.append(nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=not norm))
    if norm:
        layers.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*layers)


def up_block(in_channels: int, out_channels: int, *, norm: bool, dropout: float) -> nn.Sequential:
    """ReLU -> 4x4 stride-2 transposed conv -> [BatchNorm] -> [Dropout]: doubles H and W."""
    layers: list[nn.Module] = [
        nn.ReLU(),
        nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=not norm),
    ]
    if norm:
        layers.append(nn.BatchNorm2d(out_channels))
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class UNetGenerator(nn.Module):
    """pix2pix U-Net generator: `depth` levels, each halving H and W with a strided 4x4 conv.

    Maps (B, in_channels, H, W) float images to (B, out_channels, H, W) logits (no Tanh or
    sigmoid). H and W must be multiples of `size_multiple` = 2**depth. Widths double per level
    from base_channels up to 8 * base_channels; `dropout` applies in train mode only.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 1,
        base_channels: int = 32,
        depth: int = 6,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        check_positive(
            "UNetGenerator",
            in_channels=in_channels,
            out_channels=out_channels,
            base_channels=base_channels,
            depth=depth,
        )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"UNetGenerator needs 0 <= dropout < 1, got dropout={dropout}")
        widths = [base_channels * min(2**level, MAX_WIDTH_FACTOR) for level in range(depth)]
        innermost = depth - 1
        self.size_multiple: int = 2**depth
        # No norm on the outermost level (the paper's choice), nor on the innermost, whose map
        # is 1x1 for a 2**depth patch: BatchNorm over a single value per image is degenerate.
        self.down = nn.ModuleList(
            down_block(
                in_channels if level == 0 else widths[level - 1],
                widths[level],
                activate=level > 0,
                norm=0 < level < innermost,
            )
            for level in range(depth)
        )
        # Decoder blocks run from the innermost level outwards; all but the innermost take
        # their input concatenated with the encoder's skip, hence twice the width.
        self.up = nn.ModuleList(
            up_block(
                widths[level] * (1 if level == innermost else 2),
                out_channels if level == 0 else widths[level - 1],
                norm=level > 0,
                dropout=dropout if level > 0 and 0 < innermost - level <= DROPOUT_LEVELS else 0.0,
            )
            for level in reversed(range(depth))
        )
        self.apply(init_pix2pix_weights)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) float -> (B, out_channels, H, W) logits."""
        check_size(image, self.size_multiple)
        skips = []
        features = image
        for down in self.down:
            features = down(features)
            skips.append(features)
        skips.pop()  # the innermost output feeds the decoder directly, not as a skip
        for up in self.up:
            features = up(features)
            if skips:
                features = torch.cat([skips.pop(), features], dim=1)
        return features
