"""The pix2pix discriminator: a PatchGAN judging (image, vessel map) pairs patch by patch."""

from __future__ import annotations

import torch
from torch import nn

from src.pix2pix.generator import init_pix2pix_weights


class PatchDiscriminator(nn.Module):
    """PatchGAN: a grid of real/fake logits, each seeing a `receptive_field`-pixel square.

    Takes (B, image_channels, H, W) images and (B, map_channels, H, W) vessel maps; returns
    (B, 1, h, w) logits. With n_layers=3 each logit sees 70x70 pixels, as in the paper.
    """

    def __init__(
        self,
        image_channels: int = 3,
        map_channels: int = 1,
        base_channels: int = 64,
        n_layers: int = 3,
    ) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"PatchDiscriminator needs n_layers >= 1, got {n_layers}")
        widths = [base_channels * min(2**i, 8) for i in range(n_layers + 1)]
        strides = [2] * n_layers + [1]
        layers: list[nn.Module] = []
        source = image_channels + map_channels
        for index, (width, stride) in enumerate(zip(widths, strides, strict=True)):
            layers.append(nn.Conv2d(source, width, 4, stride=stride, padding=1, bias=index == 0))
            if index > 0:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(0.2))
            source = width
        layers.append(nn.Conv2d(source, 1, 4, stride=1, padding=1))
        self.layers = nn.Sequential(*layers)
        self.receptive_field = self._receptive_field()
        self.apply(init_pix2pix_weights)

    def _receptive_field(self) -> int:
        # Walk back from one output pixel: each conv widens the field by (kernel - 1) * stride.
        field = 1
        for layer in reversed(self.layers):
            if isinstance(layer, nn.Conv2d):
                field = (field - 1) * layer.stride[0] + layer.kernel_size[0]
        return field

    def forward(self, image: torch.Tensor, vessel_map: torch.Tensor) -> torch.Tensor:
        if image.shape[0] != vessel_map.shape[0] or image.shape[-2:] != vessel_map.shape[-2:]:
            raise ValueError(
                f"image {tuple(image.shape)} and vessel map {tuple(vessel_map.shape)} "
                "must share batch size, height and width"
            )
        return self.layers(torch.cat([image, vessel_map], dim=1))
