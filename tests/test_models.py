"""Model inference through the LightningModules: both models, batches of 1 and more, DRIVE's
565x584 size, probabilities in [0, 1]. The networks alone are tested in test_networks.py."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

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


def test_inputs_smaller_than_the_size_multiple_are_padded() -> None:
    # pix2pix needs multiples of 64: a 20x30 input cannot be reflected that far.
    model = instantiate(compose_config(["model=pix2pix"]).model).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 20, 30)).shape == (2, 1, 20, 30)


def test_inference_is_per_image() -> None:
    # In eval mode an image's prediction must not depend on the rest of its batch.
    model = Segmenter(UNet(base_channels=4, depth=2)).eval()
    images = torch.rand(3, 3, 40, 52)
    with torch.no_grad():
        together = model(images)
        alone = model(images[1:2])
    torch.testing.assert_close(together[1:2], alone, rtol=1e-4, atol=1e-5)
