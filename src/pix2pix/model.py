"""pix2pix as a LightningModule: conditional GAN training, evaluation shared with the U-Net.

The generator maps a fundus image to vessel logits; its sigmoid is the vessel probability map,
so validation and test run through `Segmenter` exactly as for the U-Net baseline.
"""

from __future__ import annotations

import torch
from torch import nn

from src.net_module import OptimizerFactory
from src.pix2pix.gan import ConditionalGAN
from src.segmenter import Segmenter


class Pix2Pix(ConditionalGAN, Segmenter):
    """Generator trained with `gan_loss` + `reconstruction_weight` * `reconstruction_loss`
    against a PatchGAN discriminator that judges (image, vessel map) pairs: first the
    discriminator on (image, label) as real and (image, generated map) as fake, then the
    generator to fool it and match the label (src/pix2pix/gan.py, with the paper's learning-rate
    policy).
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        gan_loss: nn.Module,
        reconstruction_loss: nn.Module,
        generator_optimizer: OptimizerFactory,
        discriminator_optimizer: OptimizerFactory,
        reconstruction_weight: float = 100.0,
        lr_decay_from: float | None = 0.5,
        name: str = "pix2pix",
        compile: bool = False,
        channels_last: bool = False,
    ) -> None:
        super().__init__(
            net=generator,
            loss=reconstruction_loss,
            name=name,
            compile=compile,
            channels_last=channels_last,
        )
        self.setup_gan(
            discriminator,
            gan_loss,
            generator_optimizer,
            discriminator_optimizer,
            reconstruction_weight,
            lr_decay_from,
        )

    def training_step(self, batch: dict, batch_idx: int) -> None:
        image, label = batch["image"], batch["label"]
        logits = self.logits(image)
        self.adversarial_step(image, label, torch.sigmoid(logits), self.loss(logits, label))
