"""Loss functions for vessel segmentation and adversarial training.

All losses take logits (before the sigmoid), which keeps BCE numerically stable.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class DiceLoss(nn.Module):
    """1 - soft Dice between sigmoid(logits) and a binary target, over the whole batch.

    `smooth` keeps the loss defined (and near 0) when target and prediction are both empty.
    """

    def __init__(self, smooth: float = 1.0) -> None:
        super().__init__()
        self.smooth = smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        probs = torch.sigmoid(logits)
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
        bce = F.binary_cross_entropy_with_logits(logits, target)
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
        return F.l1_loss(torch.sigmoid(logits), target)
