"""Model inference: both models, batches of 1 and more, DRIVE's 565x584 size, probabilities."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from src.pix2pix.discriminator import PatchDiscriminator
from src.pix2pix.generator import UNetGenerator
from src.segmenter import Segmenter
from src.unet import UNet
from tests.test_config import compose_config

DRIVE_SIZE = (584, 565)  # height, width


@pytest.mark.parametrize("model_name", ["unet", "pix2pix", "pix2pix_paper"])
@pytest.mark.parametrize("batch", [1, 2])
def test_full_size_inference_gives_probabilities(model_name: str, batch: int) -> None:
    model = instantiate(compose_config([f"model={model_name}"]).model).eval()
    images = torch.rand(batch, 3, *DRIVE_SIZE)
    with torch.no_grad():
        probs = model(images)
    assert probs.shape == (batch, 1, *DRIVE_SIZE)
    assert torch.isfinite(probs).all() and probs.min() >= 0.0 and probs.max() <= 1.0


def test_inference_is_per_image() -> None:
    # In eval mode an image's prediction must not depend on the rest of its batch.
    model = Segmenter(UNet(base_channels=4, depth=2)).eval()
    images = torch.rand(3, 3, 40, 52)
    with torch.no_grad():
        together = model(images)
        alone = model(images[1:2])
    torch.testing.assert_close(together[1:2], alone, rtol=1e-4, atol=1e-5)


def test_unet_defaults_match_the_reference_recipe() -> None:
    parameters = sum(p.numel() for p in UNet().parameters())
    assert 1.8e6 < parameters < 2.0e6


@pytest.mark.parametrize("net", [UNet(base_channels=4), UNetGenerator(base_channels=4)])
def test_nets_refuse_sizes_they_cannot_take(net: torch.nn.Module) -> None:
    with pytest.raises(ValueError, match=f"multiples of {net.size_multiple}"):
        net(torch.rand(1, 3, 50, 64))


def test_patch_discriminator_sees_70_pixels_and_judges_pairs() -> None:
    discriminator = PatchDiscriminator(base_channels=8)
    assert discriminator.receptive_field == 70
    logits = discriminator(torch.rand(2, 3, 64, 64), torch.rand(2, 1, 64, 64))
    assert logits.shape == (2, 1, 6, 6)
    with pytest.raises(ValueError, match="must share"):
        discriminator(torch.rand(2, 3, 64, 64), torch.rand(1, 1, 64, 64))


def test_gradients_reach_the_first_layer() -> None:
    net = UNetGenerator(base_channels=4, depth=3)
    net(torch.rand(2, 3, 32, 32)).mean().backward()
    first_layer = next(net.parameters())
    assert first_layer.grad is not None and first_layer.grad.abs().sum() > 0
