"""pix2pix as a LightningModule: conditional GAN training, evaluation shared with the U-Net.

The generator maps a fundus image to vessel logits; its sigmoid is the vessel probability map,
so validation and test run through `Segmenter` exactly as for the U-Net baseline.
"""

from __future__ import annotations

import torch
from torch import nn

from src.segmenter import OptimizerFactory, Segmenter, check_optimizer


class Pix2Pix(Segmenter):
    """Generator trained with `gan_loss` + `reconstruction_weight` * `reconstruction_loss`
    against a PatchGAN discriminator.

    Two optimisers, stepped by hand each batch: first the discriminator on (image, label) as real
    and (image, generated map) as fake, then the generator to fool it and match the label.
    Both learning rates follow the paper's policy: constant for the first `lr_decay_from` share
    of the training steps, then falling linearly to zero at the last (None keeps them constant).
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
        self.discriminator = discriminator
        self.gan_loss = gan_loss
        self.reconstruction_weight = reconstruction_weight
        self.generator_optimizer = check_optimizer(generator_optimizer, "model.generator_optimizer")
        self.discriminator_optimizer = check_optimizer(
            discriminator_optimizer, "model.discriminator_optimizer"
        )
        if lr_decay_from is not None and not 0 <= lr_decay_from < 1:
            raise ValueError(f"model.lr_decay_from={lr_decay_from} must be in [0, 1), or null")
        self.lr_decay_from = lr_decay_from
        self.automatic_optimization = False

    def nets(self) -> list[nn.Module]:
        return [self.net, self.discriminator]

    def configure_optimizers(self) -> tuple[list, list]:
        optimizers = [
            self.generator_optimizer(self.net.parameters()),
            self.discriminator_optimizer(self.discriminator.parameters()),
        ]
        # Infinite when training has no end (max_epochs=-1): the rates then stay constant.
        self.total_steps = float(self.trainer.estimated_stepping_batches)
        # Stepped by hand once per batch; Lightning keeps their state in the checkpoints.
        schedulers = [
            torch.optim.lr_scheduler.LambdaLR(optimizer, self.lr_factor) for optimizer in optimizers
        ]
        return optimizers, schedulers

    def lr_factor(self, step: int) -> float:
        """Share of the initial learning rate at training step `step` (the paper's policy)."""
        total = self.total_steps
        if self.lr_decay_from is None or total == float("inf"):
            return 1.0
        decay_steps = max(total - self.lr_decay_from * total, 1.0)
        return min(1.0, max(0.0, (total - step) / decay_steps))

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
                "train/lr": generator_opt.param_groups[0]["lr"],
            },
            prog_bar=True,
        )
        for scheduler in self.lr_schedulers():  # after logging: the log shows this step's rate
            scheduler.step()
