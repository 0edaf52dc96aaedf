"""The pix2pix discriminator: a PatchGAN that judges (image, vessel map) pairs patch by patch."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from src.pix2pix.generator import MAX_WIDTH_FACTOR, init_pix2pix_weights
from src.unet import check_positive


def conv_block(in_channels: int, out_channels: int, *, stride: int, norm: bool) -> nn.Sequential:
    """4x4 conv (padding 1) -> [BatchNorm] -> LeakyReLU 0.2."""
    layers: list[nn.Module] = [
        # A bias is redundant before BatchNorm, whose shift plays its role.
        nn.Conv2d(in_channels, out_channels, 4, stride=stride, padding=1, bias=not norm)
    ]
    if norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


def receptive_field(modules: Iterable[nn.Module]) -> int:
    """Side in input pixels of the square one output pixel of these stacked convs sees."""
    convs = [module for module in modules if isinstance(module, nn.Conv2d)]
    # Walk back from one output pixel: a conv turns a field of n pixels at its output into
    # (n - 1) * stride + kernel pixels at its input.
    field = 1
    for conv in reversed(convs):
        field = (field - 1) * conv.stride[0] + conv.kernel_size[0]
    return field


class PatchDiscriminator(nn.Module):
    """PatchGAN: a grid of real/fake logits, each judging a `receptive_field`-pixel square.

    Takes (B, image_channels, H, W) images and (B, map_channels, H, W) vessel maps; returns
    (B, 1, H / 2**n_layers - 2, W / 2**n_layers - 2) logits when 2**n_layers divides H and W.
    n_layers=3 gives the paper's 70x70 field.
    """

    def __init__(
        self,
        image_channels: int = 3,
        map_channels: int = 1,
        base_channels: int = 64,
        n_layers: int = 3,
    ) -> None:
        super().__init__()
        check_positive(
            "PatchDiscriminator",
            image_channels=image_channels,
            map_channels=map_channels,
            base_channels=base_channels,
            n_layers=n_layers,
        )
        self.image_channels = image_channels
        self.map_channels = map_channels
        widths = [base_channels * min(2**index, MAX_WIDTH_FACTOR) for index in range(n_layers + 1)]
        # n_layers stride-2 blocks then a stride-1 one; the first sees raw pixels, so no norm.
        blocks = [conv_block(image_channels + map_channels, widths[0], stride=2, norm=False)]
        for index in range(1, n_layers + 1):
            stride = 2 if index < n_layers else 1
            blocks.append(conv_block(widths[index - 1], widths[index], stride=stride, norm=True))
        self.layers = nn.Sequential(*blocks, nn.Conv2d(widths[-1], 1, 4, stride=1, padding=1))
        self.receptive_field: int = receptive_field(self.layers.modules())
        self.apply(init_pix2pix_weights)

    def forward(self, image: torch.Tensor, vessel_map: torch.Tensor) -> torch.Tensor:
        """(B, image_channels, H, W) images, (B, map_channels, H, W) maps -> (B, 1, h, w) logits."""
        if image.shape[0] != vessel_map.shape[0] or image.shape[-2:] != vessel_map.shape[-2:]:
            raise ValueError(
                f"image {tuple(image.shape)} and vessel map {tuple(vessel_map.shape)} "
                "must share batch size, height and width"
            )
        if image.shape[1] != self.image_channels or vessel_map.shape[1] != self.map_channels:
            raise ValueError(
                f"expected {self.image_channels} image and {self.map_channels} map channels, got "
                f"image {tuple(image.shape)} and vessel map {tuple(vessel_map.shape)}"
            )
        return self.layers(torch.cat([image, vessel_map], dim=1))
