"""The conditional-GAN training both pix2pix models share: two optimisers stepped by hand each
batch, and the paper's learning-rate policy."""

from __future__ import annotations

import torch
from torch import nn

from src.net_module import OptimizerFactory, check_optimizer


class ConditionalGAN:
    """Mixin for a LightningModule with a generator `net` and a `discriminator(condition, output)`.

    Both learning rates follow the paper's policy: constant for the first `lr_decay_from` share
    of the training steps, then falling linearly to zero at the last (None keeps them constant).
    `gan_weight` 0 trains the generator on its reconstruction term alone (the discriminator is
    never stepped): the L1-only baseline the pix2pix paper compares with.
    """

    net: nn.Module
    discriminator: nn.Module

    def setup_gan(
        self,
        discriminator: nn.Module,
        gan_loss: nn.Module,
        generator_optimizer: OptimizerFactory,
        discriminator_optimizer: OptimizerFactory,
        reconstruction_weight: float,
        lr_decay_from: float | None,
        gan_weight: float = 1.0,
    ) -> None:
        """Keep the GAN's parts, each value checked; called by the model's __init__ after the
        LightningModule's (its `net` is the generator)."""
        self.discriminator = discriminator
        self.gan_loss = gan_loss
        self.reconstruction_weight = reconstruction_weight
        if gan_weight < 0:
            raise ValueError(f"model.gan_weight={gan_weight} must be >= 0 (0: no adversary)")
        self.gan_weight = gan_weight
        self.generator_optimizer = check_optimizer(generator_optimizer, "model.generator_optimizer")
        self.discriminator_optimizer = check_optimizer(
            discriminator_optimizer, "model.discriminator_optimizer"
        )
        if lr_decay_from is not None and not 0 <= lr_decay_from < 1:
            raise ValueError(f"model.lr_decay_from={lr_decay_from} must be in [0, 1), or null")
        self.lr_decay_from = lr_decay_from
        self.automatic_optimization = False

    def nets(self) -> list[nn.Module]:
        """Both networks take the speed switches."""
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

    def adversarial_step(
        self,
        condition: torch.Tensor,
        real: torch.Tensor,
        generated: torch.Tensor,
        reconstruction: torch.Tensor,
    ) -> None:
        """One step of each optimiser: the discriminator on (condition, real) as real and
        (condition, generated) as fake, then the generator to fool it and to lower
        `reconstruction` (already computed from `generated`); logs both losses."""
        generator_opt, discriminator_opt = self.optimizers()
        losses = {"train/reconstruction": reconstruction}
        generator_loss = self.reconstruction_weight * reconstruction
        if self.gan_weight:
            self.toggle_optimizer(discriminator_opt)
            real_loss = self.gan_loss(self.discriminator(condition, real), real=True)
            fake = self.discriminator(condition, generated.detach())
            discriminator_loss = 0.5 * (real_loss + self.gan_loss(fake, real=False))
            discriminator_opt.zero_grad(set_to_none=True)
            self.manual_backward(discriminator_loss)
            discriminator_opt.step()
            self.untoggle_optimizer(discriminator_opt)
            losses["train/loss_discriminator"] = discriminator_loss

            self.toggle_optimizer(generator_opt)
            fooled = self.gan_loss(self.discriminator(condition, generated), real=True)
            generator_loss = self.gan_weight * fooled + generator_loss
        generator_opt.zero_grad(set_to_none=True)
        self.manual_backward(generator_loss)
        generator_opt.step()
        if self.gan_weight:
            self.untoggle_optimizer(generator_opt)
        losses["train/loss_generator"] = generator_loss
        losses["train/lr"] = generator_opt.param_groups[0]["lr"]
        self.log_dict(losses, prog_bar=True)
        generator_schedule, discriminator_schedule = self.lr_schedulers()
        generator_schedule.step()  # after logging: the log shows this step's rate
        if self.gan_weight:  # an optimiser never stepped keeps its schedule where it is
            discriminator_schedule.step()
