"""The baseline U-Net (Ronneberger et al., 2015) with BatchNorm, sized for small datasets.

Also holds the argument checks every net in `src` shares: `check_positive` for constructor
arguments and `check_size` for inputs whose height and width must be multiples of 2**depth.
"""

from __future__ import annotations

import torch
from torch import nn


def check_positive(net: str, **arguments: int) -> None:
    """Raise a ValueError naming the first of `arguments` that is below 1."""
    for name, value in arguments.items():
        if value < 1:
            raise ValueError(f"{net} needs {name} >= 1, got {name}={value}")


def check_size(image: torch.Tensor, multiple: int) -> None:
    """Raise a ValueError unless `multiple` divides the height and width of (..., H, W) `image`."""
    height, width = image.shape[-2:]
    if height % multiple or width % multiple:
        padded_height, padded_width = (-(-size // multiple) * multiple for size in (height, width))
        raise ValueError(
            f"input of {height}x{width} pixels (HxW): height and width must be multiples of "
            f"{multiple}; pad the input to a multiple of {multiple}, e.g. to "
            f"{padded_height}x{padded_width} (Segmenter.forward pads and crops for you)"
        )


def double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """(3x3 conv, BatchNorm, ReLU) twice: one U-Net level, H and W unchanged."""
    # No conv bias: the BatchNorm shift that follows makes it redundant.
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """U-Net with `depth` 2x down-samplings; widths base_channels * 2**level, level 0..depth.

    Maps (B, in_channels, H, W) float images to (B, out_channels, H, W) logits (no sigmoid).
    H and W must be multiples of `size_multiple` = 2**depth. Defaults: about 1.94 M parameters.
    """

    def __init__(
        self, in_channels: int = 3, out_channels: int = 1, base_channels: int = 16, depth: int = 4
    ) -> None:
        super().__init__()
        check_positive(
            "UNet",
            in_channels=in_channels,
            out_channels=out_channels,
            base_channels=base_channels,
            depth=depth,
        )
        widths = [base_channels * 2**level for level in range(depth + 1)]
        self.size_multiple: int = 2**depth
        self.stem = double_conv(in_channels, widths[0])
        self.down = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), double_conv(widths[level], widths[level + 1]))
            for level in range(depth)
        )
        # Decoder modules run from the bottleneck outwards, so they are listed deepest first.
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(widths[level + 1], widths[level], 2, stride=2)
            for level in reversed(range(depth))
        )
        self.decode = nn.ModuleList(
            double_conv(2 * widths[level], widths[level]) for level in reversed(range(depth))
        )
        self.head = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) float -> (B, out_channels, H, W) logits."""
        check_size(image, self.size_multiple)
        features = self.stem(image)
        skips = []
        for down in self.down:
            skips.append(features)
            features = down(features)
        for up, decode in zip(self.up, self.decode, strict=True):
            features = decode(torch.cat([skips.pop(), up(features)], dim=1))
        return self.head(features)
