"""The pix2pix generator: a U-Net of strided 4x4 convolutions (Isola et al., 2017)."""

from __future__ import annotations

import torch
from torch import nn

from src.unet import check_size


def init_pix2pix_weights(module: nn.Module) -> None:
    """pix2pix initialisation: conv weights N(0, 0.02), BatchNorm scale N(1, 0.02), biases 0."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class UNetGenerator(nn.Module):
    """U-Net generator: each level halves the size with a 4x4 stride-2 convolution.

    Maps (B, in_channels, H, W) images to (B, out_channels, H, W) logits (no final activation: a
    sigmoid makes them vessel probabilities). H and W must be multiples of 2**depth. Channels double
    per level up to 8 * base_channels; the three innermost decoder levels use dropout.
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
        if depth < 2 or min(in_channels, out_channels, base_channels) < 1:
            raise ValueError(
                f"UNetGenerator needs depth >= 2 and positive channel counts, got "
                f"depth={depth}, channels in/out/base={in_channels}/{out_channels}/"
                f"{base_channels}"
            )
        widths = [base_channels * min(2**level, 8) for level in range(depth)]
        self.size_multiple = 2**depth
        self.down = nn.ModuleList()
        for level in range(depth):
            source = in_channels if level == 0 else widths[level - 1]
            layers: list[nn.Module] = [] if level == 0 else [nn.LeakyReLU(0.2)]
            layers.append(
                nn.Conv2d(
                    source, widths[level], 4, stride=2, padding=1, bias=level in (0, depth - 1)
                )
            )
            # No norm on the outermost layer (as in the paper) nor on the 1x1 bottleneck of a patch.
            if 0 < level < depth - 1:
                layers.append(nn.BatchNorm2d(widths[level]))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()
        for level in reversed(range(depth)):
            source = widths[level] if level == depth - 1 else 2 * widths[level]
            target = out_channels if level == 0 else widths[level - 1]
            layers = [
                nn.ReLU(),
                nn.ConvTranspose2d(source, target, 4, stride=2, padding=1, bias=level == 0),
            ]
            if level > 0:
                layers.append(nn.BatchNorm2d(target))
            if 0 < depth - 1 - level < 4 and level > 0 and dropout > 0:
                layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
        self.apply(init_pix2pix_weights)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        check_size(image, self.size_multiple)
        skips = []
        features = image
        for block in self.down:
            features = block(features)
            skips.append(features)
        skips.pop()
        for index, block in enumerate(self.up):
            if index > 0:
                features = torch.cat([features, skips.pop()], dim=1)
            features = block(features)
        return features
