"""pix2pix as a LightningModule: conditional GAN training, evaluation shared with the U-Net.

The generator maps a fundus image to vessel logits; its sigmoid is the vessel probability map,
so validation and test run through `Segmenter` exactly as for the U-Net baseline.
"""

from __future__ import annotations

import torch
from torch import nn

from src.segmenter import OptimizerFactory, Segmenter


class Pix2Pix(Segmenter):
    """Generator trained with `gan_loss` + `reconstruction_weight` * `reconstruction_loss`
    against a PatchGAN discriminator.

    Two optimisers, stepped by hand each batch: first the discriminator on (image, label) as real
    and (image, generated map) as fake, then the generator to fool it and match the label.
    The paper's reconstruction term is L1 with weight 100 (conf/model/pix2pix_paper.yaml).
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        gan_loss: nn.Module,
        reconstruction_loss: nn.Module,
        generator_optimizer: OptimizerFactory,
        discriminator_optimizer: OptimizerFactory,
        reconstruction_weight: float = 10.0,
        name: str = "pix2pix",
    ) -> None:
        super().__init__(net=generator, loss=reconstruction_loss, name=name)
        self.discriminator = discriminator
        self.gan_loss = gan_loss
        self.reconstruction_weight = reconstruction_weight
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.automatic_optimization = False

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        return [
            self.generator_optimizer(self.net.parameters()),
            self.discriminator_optimizer(self.discriminator.parameters()),
        ]

    def training_step(self, batch: dict, batch_idx: int) -> None:
        image, label = batch["image"], batch["label"]
        generator_opt, discriminator_opt = self.optimizers()
        logits = self.logits(image)
        generated = torch.sigmoid(logits)

        self.toggle_optimizer(discriminator_opt)
        real = self.gan_loss(self.discriminator(image, label), real=True)
        fake = self.gan_loss(self.discriminator(image, generated.detach()), real=False)
        discriminator_loss = 0.5 * (real + fake)
        discriminator_opt.zero_grad(set_to_none=True)
        self.manual_backward(discriminator_loss)
        discriminator_opt.step()
        self.untoggle_optimizer(discriminator_opt)

        self.toggle_optimizer(generator_opt)
        adversarial = self.gan_loss(self.discriminator(image, generated), real=True)
        reconstruction = self.loss(logits, label)
        generator_loss = adversarial + self.reconstruction_weight * reconstruction
        generator_opt.zero_grad(set_to_none=True)
        self.manual_backward(generator_loss)
        generator_opt.step()
        self.untoggle_optimizer(generator_opt)

        self.log_dict(
            {
                "train/loss_generator": generator_loss,
                "train/loss_discriminator": discriminator_loss,
                "train/reconstruction": reconstruction,
            },
            prog_bar=True,
        )
