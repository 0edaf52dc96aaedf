"""pix2pix the other way round: a fundus photograph synthesised from a vessel map and its field
of view (the retinal image synthesis line of work; the seed's MESSIDOR direction).

It trains on the batches of any vessel data module, read in reverse: the condition is the label
and the FOV (2 channels), the target the photograph, fed in [0, 1] (data.normalize=none).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from src.net_module import NetModule, OptimizerFactory
from src.pix2pix.gan import ConditionalGAN
from utils.synthesis.metrics import photograph_scores, update_scores


def condition_of(batch: dict) -> torch.Tensor:
    """The generator's input: the vessel map and the field of view, (B, 2, H, W)."""
    return torch.cat([batch["label"], batch["fov"].to(batch["label"].dtype)], dim=1)


class MapToPhotograph(ConditionalGAN, NetModule):
    """Generator (map, FOV) -> photograph, trained with `gan_weight` x `gan_loss` +
    `reconstruction_weight` x L1 against a PatchGAN that judges (map, photograph) pairs.
    `gan_weight` 0 is the L1-only generator the pix2pix paper compares with.

    Outside the FOV the output is black, as in the photographs; scores (L1, PSNR, SSIM,
    utils/synthesis/metrics.py) are counted inside it.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        gan_loss: nn.Module,
        generator_optimizer: OptimizerFactory,
        discriminator_optimizer: OptimizerFactory,
        gan_weight: float = 1.0,
        reconstruction_weight: float = 100.0,
        lr_decay_from: float | None = 0.5,
        name: str = "pix2pix",
        compile: bool = False,
        channels_last: bool = False,
    ) -> None:
        super().__init__(generator, name, compile, channels_last)
        self.setup_gan(
            discriminator,
            gan_loss,
            generator_optimizer,
            discriminator_optimizer,
            reconstruction_weight,
            lr_decay_from,
            gan_weight,
        )
        self.val_scores = photograph_scores(prefix="val/")
        self.test_scores = photograph_scores(prefix="test/")

    def forward(self, condition: torch.Tensor) -> torch.Tensor:
        """Photographs (B, 3, H, W) in [0, 1], black outside the FOV (condition channel 1)."""
        return torch.sigmoid(self.logits(condition).float()) * condition[:, 1:2]

    def training_step(self, batch: dict, batch_idx: int) -> None:
        if batch_idx == 0:
            check_in_unit_range(batch["image"])
        condition = condition_of(batch)
        real = batch["image"] * condition[:, 1:2]
        generated = self(condition)
        reconstruction = (generated - real).abs().mean()
        self.adversarial_step(condition, real, generated, reconstruction)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        generated = self(condition_of(batch))
        update_scores(self.val_scores, generated, batch["image"], batch["fov"])
        self.log_dict(self.val_scores, prog_bar=True, batch_size=len(generated))
        if batch_idx == 0:
            from utils.vessels.images import log_image_row

            row = [batch["label"][0], generated[0], batch["image"][0]]
            log_image_row(self.loggers, "val/map_synthesised_real", self.global_step, row)

    def test_step(self, batch: dict, batch_idx: int) -> list[dict]:
        """Score each image; the returned records feed the task's result writer."""
        generated = self(condition_of(batch))
        real = batch["image"]
        if real.shape[-2:] != generated.shape[-2:]:
            # test.py data=<other> resizes the photograph to the training FOV diameter; the map,
            # the generator's input, keeps its own pixels, and so does what is scored.
            real = F.interpolate(real, size=generated.shape[-2:], mode="bilinear").clamp(0, 1)
        update_scores(self.test_scores, generated, real, batch["fov"])
        self.log_dict(self.test_scores, batch_size=len(generated))
        return [
            {
                "name": batch["name"][i],
                "map": batch["label"][i].cpu(),
                "fov": batch["fov"][i].cpu(),
                "synthesised": generated[i].cpu(),
                "real": real[i].cpu(),
            }
            for i in range(len(generated))
        ]


def check_in_unit_range(image: torch.Tensor) -> None:
    """The target photograph must be fed as it is, in [0, 1]: a sigmoid cannot reach
    normalised values."""
    low, high = float(image.min()), float(image.max())
    if low < 0 or high > 1:
        raise ValueError(
            f"the photographs reach the model in [{low:.2f}, {high:.2f}], not [0, 1]: "
            "set data.normalize=none (python train.py experiment=synthesis does)."
        )
