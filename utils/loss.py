"""Loss functions for vessel segmentation and adversarial training.

All losses take logits (before the sigmoid), which keeps BCE numerically stable, and compute in
float32 at least, whatever the dtype of their inputs: under 16-mixed precision the network's fp16
logits would otherwise be summed in fp16, which overflows above 65,504 (the probabilities of one
batch of 16 patches of 128 x 128 sum to more than that). The gradient flows back in the logits'
own dtype.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor` in float32 if its dtype is narrower (fp16, bf16, integers, bool), else as it is."""
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))


class DiceLoss(nn.Module):
    """1 - soft Dice between sigmoid(logits) and a binary target, over the whole batch.

    `smooth` keeps the loss defined (and near 0) when target and prediction are both empty.
    """

    def __init__(self, smooth: float = 1.0) -> None:
        super().__init__()
        self.smooth = smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        probs = torch.sigmoid(_at_least_float32(logits))
        target = target.to(probs)
        overlap = (probs * target).sum()
        total = probs.sum() + target.sum()
        return 1.0 - (2.0 * overlap + self.smooth) / (total + self.smooth)


class BCEDiceLoss(nn.Module):
    """Binary cross-entropy plus `dice_weight` times the Dice loss.

    BCE gives well-calibrated probabilities; Dice counters the class imbalance of thin vessels
    (about 1 pixel in 8 is a vessel).
    """

    def __init__(self, dice_weight: float = 1.0) -> None:
        super().__init__()
        self.dice_weight = dice_weight
        self.dice = DiceLoss()

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = _at_least_float32(logits)
        bce = F.binary_cross_entropy_with_logits(logits, target.to(logits))
        return bce + self.dice_weight * self.dice(logits, target)


class GANLoss(nn.Module):
    """Adversarial loss on discriminator logits: `vanilla` (BCE, as pix2pix) or `lsgan` (MSE)."""

    def __init__(self, mode: str = "vanilla") -> None:
        super().__init__()
        if mode not in ("vanilla", "lsgan"):
            raise ValueError(f"GANLoss mode {mode!r} is unknown; use 'vanilla' or 'lsgan'.")
        self.mode = mode

    def forward(self, logits: torch.Tensor, real: bool) -> torch.Tensor:
        """Loss for a discriminator output that should say `real` (True) or fake (False)."""
        logits = _at_least_float32(logits)
        target = torch.full_like(logits, 1.0 if real else 0.0)
        if self.mode == "vanilla":
            return F.binary_cross_entropy_with_logits(logits, target)
        return F.mse_loss(logits, target)


class L1Loss(nn.Module):
    """Mean absolute error between sigmoid(logits) and the target: pix2pix's reconstruction term.

    With weight 100 beside the GAN loss it trains vessel maps steadily (README, "pix2pix on
    vessel maps"); BCE + Dice x 10 reaches the same scores but swings from epoch to epoch.
    """

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        probs = torch.sigmoid(_at_least_float32(logits))
        return F.l1_loss(probs, target.to(probs))
