"""The networks on their own: shapes, size checks, gradients, initialisation, DRIVE's full size.

Small widths keep these fast; sizes that matter (parameter count, full DRIVE image) use defaults.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from src.pix2pix.discriminator import PatchDiscriminator
from src.pix2pix.generator import UNetGenerator
from src.unet import UNet

DRIVE_SIZE = (584, 565)  # height, width of a DRIVE fundus image


def small_nets() -> list[nn.Module]:
    """Image-to-logits nets narrow enough for quick tests."""
    return [UNet(base_channels=4, depth=3), UNetGenerator(base_channels=4, depth=3)]


def net_name(net: nn.Module) -> str:
    """Test id: the class name."""
    return type(net).__name__


@pytest.mark.parametrize("net", small_nets(), ids=net_name)
@pytest.mark.parametrize("batch", [1, 3])
def test_nets_return_one_logit_per_pixel(net: nn.Module, batch: int) -> None:
    images = torch.rand(batch, 3, 32, 48)  # any multiple of net.size_multiple (8 here)
    logits = net(images)
    assert logits.shape == (batch, 1, 32, 48)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("batch", [1, 3])
def test_discriminator_returns_a_grid_of_logits(batch: int) -> None:
    discriminator = PatchDiscriminator(base_channels=8)
    logits = discriminator(torch.rand(batch, 3, 64, 96), torch.rand(batch, 1, 64, 96))
    assert logits.shape == (batch, 1, 64 // 8 - 2, 96 // 8 - 2)
    assert torch.isfinite(logits).all()


def test_unet_defaults_have_about_1_9_million_parameters() -> None:
    unet = UNet()
    assert unet.size_multiple == 16
    assert 1.85e6 < sum(p.numel() for p in unet.parameters()) < 2.0e6


@pytest.mark.parametrize("net", small_nets(), ids=net_name)
def test_nets_refuse_sizes_they_cannot_take(net: nn.Module) -> None:
    with pytest.raises(ValueError, match=r"50x64 .* multiple of 8, e\.g\. to 56x64"):
        net(torch.rand(1, 3, 50, 64))


@pytest.mark.parametrize(
    ("net_class", "arguments"),
    [
        (UNet, {"depth": 0}),
        (UNet, {"base_channels": 0}),
        (UNetGenerator, {"in_channels": 0}),
        (UNetGenerator, {"dropout": 1.0}),
        (PatchDiscriminator, {"n_layers": 0}),
    ],
)
def test_constructors_reject_impossible_arguments(
    net_class: type[nn.Module], arguments: dict[str, float]
) -> None:
    name = next(iter(arguments))
    with pytest.raises(ValueError, match=f"{net_class.__name__} needs .*{name}"):
        net_class(**arguments)


def test_discriminator_refuses_mismatched_pairs() -> None:
    discriminator = PatchDiscriminator(base_channels=8)
    with pytest.raises(ValueError, match="must share"):
        discriminator(torch.rand(2, 3, 64, 64), torch.rand(1, 1, 64, 64))
    with pytest.raises(ValueError, match="must share"):
        discriminator(torch.rand(2, 3, 64, 64), torch.rand(2, 1, 64, 32))
    with pytest.raises(ValueError, match="map channels"):
        discriminator(torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64))


@pytest.mark.parametrize(("n_layers", "expected"), [(1, 16), (2, 34), (3, 70)])
def test_receptive_field_matches_what_one_logit_sees(n_layers: int, expected: int) -> None:
    # eval mode: in train mode BatchNorm statistics would let every logit see every pixel.
    discriminator = PatchDiscriminator(base_channels=4, n_layers=n_layers).eval()
    assert discriminator.receptive_field == expected
    image = torch.rand(1, 3, 128, 128, requires_grad=True)
    logits = discriminator(image, torch.rand(1, 1, 128, 128))
    height, width = logits.shape[-2:]
    logits[0, 0, height // 2, width // 2].backward()
    rows, cols = image.grad.abs().sum(dim=(0, 1)).nonzero(as_tuple=True)
    assert rows.max() - rows.min() + 1 == expected
    assert cols.max() - cols.min() + 1 == expected


@pytest.mark.parametrize("net", small_nets(), ids=net_name)
def test_gradients_reach_every_parameter(net: nn.Module) -> None:
    net(torch.rand(2, 3, 32, 32)).mean().backward()
    first_layer = next(net.parameters())
    assert first_layer.grad is not None and first_layer.grad.abs().sum() > 0
    assert all(p.grad is not None for p in net.parameters())


def test_discriminator_gradients_reach_the_generated_map() -> None:
    # The generator learns from the GAN loss only through this gradient.
    discriminator = PatchDiscriminator(base_channels=8)
    vessel_map = torch.rand(2, 1, 64, 64, requires_grad=True)
    discriminator(torch.rand(2, 3, 64, 64), vessel_map).mean().backward()
    assert vessel_map.grad.abs().sum() > 0
    assert next(discriminator.parameters()).grad.abs().sum() > 0


def test_generator_dropout_is_noise_in_training_only() -> None:
    generator = UNetGenerator(base_channels=4, depth=5, dropout=0.5)
    images = torch.rand(2, 3, 32, 32)
    assert not torch.equal(generator(images), generator(images))
    generator.eval()
    with torch.no_grad():
        torch.testing.assert_close(generator(images), generator(images))


def test_pix2pix_nets_start_from_the_paper_initialisation() -> None:
    torch.manual_seed(0)
    for net in (UNetGenerator(), PatchDiscriminator()):
        for module in net.modules():
            if isinstance(module, nn.Conv2d | nn.ConvTranspose2d) and module.weight.numel() > 1e4:
                assert module.weight.std().item() == pytest.approx(0.02, rel=0.1)
            if isinstance(module, nn.BatchNorm2d):
                assert module.weight.mean().item() == pytest.approx(1.0, abs=0.01)
            if getattr(module, "bias", None) is not None:
                assert not module.bias.any()
