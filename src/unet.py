"""The baseline U-Net (Ronneberger et al., 2015) with BatchNorm, sized for small datasets."""

from __future__ import annotations

import torch
from torch import nn


def check_size(image: torch.Tensor, multiple: int) -> None:
    """Raise a ValueError unless the image height and width are multiples of `multiple`."""
    height, width = image.shape[-2:]
    if height % multiple or width % multiple:
        padded = (-(-height // multiple) * multiple, -(-width // multiple) * multiple)
        raise ValueError(
            f"input of {height}x{width} pixels: height and width must be multiples of {multiple}; "
            f"pad it, e.g. to {padded[0]}x{padded[1]} (Segmenter.forward does this for you)."
        )


def double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """(3x3 conv, BatchNorm, ReLU) twice: one U-Net level."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """U-Net: `depth` down-samplings, `base_channels` doubling at each level.

    Maps (B, in_channels, H, W) images to (B, out_channels, H, W) logits; H and W must be
    multiples of `size_multiple` (2**depth). Defaults give about 1.9 M parameters.
    """

    def __init__(
        self, in_channels: int = 3, out_channels: int = 1, base_channels: int = 16, depth: int = 4
    ) -> None:
        super().__init__()
        if depth < 1 or min(in_channels, out_channels, base_channels) < 1:
            raise ValueError(
                f"UNet needs depth >= 1 and positive channel counts, got depth={depth}, "
                f"channels in/out/base={in_channels}/{out_channels}/{base_channels}"
            )
        widths = [base_channels * 2**level for level in range(depth + 1)]
        self.size_multiple = 2**depth
        self.encoder = nn.ModuleList([double_conv(in_channels, widths[0])])
        self.encoder.extend(double_conv(widths[i], widths[i + 1]) for i in range(depth))
        self.pool = nn.MaxPool2d(2)
        self.upsample = nn.ModuleList(
            nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2)
            for i in reversed(range(depth))
        )
        self.decoder = nn.ModuleList(
            double_conv(2 * widths[i], widths[i]) for i in reversed(range(depth))
        )
        self.head = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        check_size(image, self.size_multiple)
        skips = []
        features = image
        for index, level in enumerate(self.encoder):
            features = level(features if index == 0 else self.pool(features))
            skips.append(features)
        skips.pop()  # the bottleneck has no skip connection
        for upsample, level in zip(self.upsample, self.decoder, strict=True):
            features = level(torch.cat([skips.pop(), upsample(features)], dim=1))
        return self.head(features)
