"""Inference quality and curated scenarios, with a small U-Net really trained on synthetic data.

The U-Net must reach a floor of F1 set from what its training was measured to reach, beat both
an untrained U-Net and the green-channel threshold baseline on the validation images by a clear
margin, then behave sensibly on hand-made scenes. pix2pix, as conf/ builds it, must learn too
within a short run.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate

from data.data import VesselDataModule
from src.green_threshold import GreenThreshold, fit_level
from src.segmenter import Segmenter
from src.unet import UNet
from tests.test_config import compose_config
from utils.engine.precision import pick_precision
from utils.loss import BCEDiceLoss

pytestmark = pytest.mark.slow
MARGIN = 0.1  # F1 points a trained model must gain over each baseline
# Floors of validation F1 (the fixture's 2 validation images), from the figures measured on
# 2 CPU cores with the recipes below, seeds 0, 1 and 2; each floor is 90% of the lowest seed's:
# - the U-Net fixture, Adam 1e-3: 0.676 (seed 0, the one used here), 0.667, 0.706 with torch on
#   2 threads, 0.660, 0.678, 0.723 on 1 (a test worker's share under `make test`) -> floor 0.56,
#   70% of the README's 0.80 for `make train` (16 base channels, 1,000 steps, 20 images). At
#   3e-3 the same seeds gave 0.44 to 0.73: a summation order moved it by 0.3.
# - pix2pix, 400 steps: 0.642 (seed 0, the one used here), 0.469, 0.557 -> floor 0.42, where the
#   green threshold scores 0.288. In 200 steps it learned for one seed of three only (0.515,
#   0.066, 0.036): too short to test.
UNET_FLOOR = 0.56
PIX2PIX_FLOOR = 0.42


def validation_f1(model: Segmenter, datamodule: VesselDataModule) -> float:
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    return trainer.validate(model, datamodule=datamodule, verbose=False)[0]["val/f1"]


def small_unet() -> Segmenter:
    return Segmenter(
        UNet(base_channels=8, depth=3),
        BCEDiceLoss(),
        lambda params: torch.optim.Adam(params, lr=1e-3),
    )


@pytest.fixture(scope="module")
def trained(dataset: Path) -> tuple[Segmenter, VesselDataModule, float]:
    """A U-Net trained for a short CPU budget (about a minute), and its validation F1."""
    L.seed_everything(0)
    # RGB in [0, 1]: the scenarios below paint their own images in those units.
    datamodule = VesselDataModule(
        str(dataset), augment=True, batch_size=8, samples_per_epoch=800, normalize="none"
    )
    model = small_unet()
    fit_for_4_epochs(model, datamodule)
    return model.eval(), datamodule, validation_f1(model, datamodule)


def fit_for_4_epochs(model: L.LightningModule, datamodule: VesselDataModule, **trainer) -> None:
    """Fit without validation, checkpoints or output: what the floors were measured with."""
    L.Trainer(
        max_epochs=4,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        **trainer,
    ).fit(model, datamodule=datamodule)


@pytest.fixture(scope="module")
def green_f1(dataset: Path) -> float:
    """Validation F1 of the green-channel threshold fitted on the training split."""
    datamodule = VesselDataModule(str(dataset), normalize="none")
    train = datamodule.cache("train")
    level = fit_level(train.images, train.labels, train.fovs)
    return validation_f1(Segmenter(GreenThreshold(level)), datamodule)


def test_trained_unet_beats_untrained_and_green_threshold(trained, green_f1: float) -> None:
    model, datamodule, trained_f1 = trained
    L.seed_everything(0)
    untrained_f1 = validation_f1(small_unet(), datamodule)
    print(
        f"validation F1: trained {trained_f1:.3f}, untrained {untrained_f1:.3f}, "
        f"green threshold {green_f1:.3f}"
    )
    assert trained_f1 > UNET_FLOOR
    assert trained_f1 > untrained_f1 + MARGIN
    assert trained_f1 > green_f1 + MARGIN


def test_pix2pix_learns_within_a_short_run(dataset: Path, green_f1: float) -> None:
    """pix2pix as `model=pix2pix` builds it, on conf/'s data settings (batches of 16, input
    standardised with the training split's statistics), for 4 epochs of 100 steps."""
    cfg = compose_config(["model=pix2pix"])
    L.seed_everything(0)
    model = instantiate(cfg.model)
    datamodule = VesselDataModule(
        str(dataset), augment=True, batch_size=16, samples_per_epoch=1600, normalize="dataset"
    )
    # bf16 where this CPU computes it, as train.py picks it
    fit_for_4_epochs(model, datamodule, precision=pick_precision(cfg.trainer))
    f1 = validation_f1(model, datamodule)
    print(f"validation F1: pix2pix {f1:.3f}, green threshold {green_f1:.3f}")
    assert f1 > PIX2PIX_FLOOR
    assert f1 > green_f1 + MARGIN


def background_like(datamodule: VesselDataModule) -> tuple[torch.Tensor, torch.Tensor]:
    """A vessel-free image: the mean background colour of a real sample inside its FOV."""
    cache = datamodule.cache("validate")
    image, label, fov = cache.images[0].float() / 255.0, cache.labels[0], cache.fovs[0]
    background = fov & ~label
    colour = torch.stack([channel[background[0]].mean() for channel in image])
    blank = colour[:, None, None].expand_as(image).clone() * fov
    return blank, fov


def test_blank_image_gives_an_almost_empty_map(trained) -> None:
    model, datamodule, _ = trained
    blank, fov = background_like(datamodule)
    with torch.no_grad():
        probs = model(blank[None])[0]
    assert (probs[fov] >= 0.5).float().mean() < 0.01


def test_a_single_wide_vessel_is_found(trained) -> None:
    model, datamodule, _ = trained
    image, fov = background_like(datamodule)
    vessel = torch.zeros_like(fov)
    vessel[0, 280:288, 150:420] = True  # an 8-pixel-wide horizontal vessel through the centre
    image = torch.where(vessel, image * torch.tensor([0.75, 0.55, 0.7])[:, None, None], image)
    with torch.no_grad():
        found = model(image[None])[0] >= 0.5
    recall = (found & vessel).sum() / vessel.sum()
    false_alarms = (found & ~vessel & fov).sum() / vessel.sum()
    assert recall > 0.7, f"recall on the vessel {recall:.2f}"
    assert false_alarms < 0.5, f"false positives {false_alarms:.2f} of the vessel's area"
