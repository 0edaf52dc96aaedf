"""The simplest baseline: vessels are darker than their surroundings in the green channel.

`GreenThreshold` calls a pixel a vessel when its green value is at most a level fitted on the
training split (the level with the best F1). It is a net like any other, so it is scored by the
same evaluation path as the trained models:

    python -m src.green_threshold [--root data/synthetic]
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from utils.base import UserError, exit_cleanly_on

LEVELS = 256  # 8-bit images: every possible threshold can be tried exactly


class GreenThreshold(nn.Module):
    """Logits that are positive where green <= `level` (green on the 0-255 scale)."""

    size_multiple = 1

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) images in [0, 1] -> (B, 1, H, W) logits."""
        green = image[:, 1:2] * 255.0
        # The scale keeps probabilities distinct (for AUC-ROC) without saturating at 0 or 1.
        return (self.level + 0.5 - green) / 25.0


def fit_level(
    images: list[torch.Tensor], labels: list[torch.Tensor], fovs: list[torch.Tensor]
) -> int:
    """The green level (0-255) whose threshold gives the best F1 inside the FOV of these images.

    `images` are (3, H, W) uint8, `labels` and `fovs` (1, H, W) bool.
    """
    vessel = torch.zeros(LEVELS, dtype=torch.float64)
    background = torch.zeros(LEVELS, dtype=torch.float64)
    for image, label, fov in zip(images, labels, fovs, strict=True):
        green = image[1][fov[0]].long()
        is_vessel = label[0][fov[0]]
        vessel += torch.bincount(green[is_vessel], minlength=LEVELS)
        background += torch.bincount(green[~is_vessel], minlength=LEVELS)
    true_pos = vessel.cumsum(0)  # vessel pixels with green <= level
    false_pos = background.cumsum(0)
    false_neg = vessel.sum() - true_pos
    f1 = 2 * true_pos / (2 * true_pos + false_pos + false_neg).clamp(min=1)
    return int(f1.argmax())


@exit_cleanly_on(UserError)
def main() -> None:
    import lightning as L

    from data.data import VesselDataModule
    from src.segmenter import Segmenter

    parser = argparse.ArgumentParser(description="Score the green-channel threshold baseline.")
    parser.add_argument("--root", default="data/synthetic", help="dataset folder with manifests")
    parser.add_argument("--split", default="test", choices=["validate", "test"])
    args = parser.parse_args()

    datamodule = VesselDataModule(args.root, source=None)
    train = datamodule.cache("train")
    level = fit_level(train.images, train.labels, train.fovs)
    model = Segmenter(GreenThreshold(level))
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    run = trainer.validate if args.split == "validate" else trainer.test
    scores = run(model, datamodule=datamodule, verbose=False)[0]
    print(
        f"green <= {level} on {args.root} {args.split}: "
        + ", ".join(f"{k.split('/')[1]} {v:.4f}" for k, v in sorted(scores.items()))
    )


if __name__ == "__main__":
    main()
