"""The LightningModule every vessel model shares: supervised training and one evaluation path.

A new segmentation network needs no new LightningModule: give `Segmenter` any `nn.Module` that maps
(B, C, H, W) images to (B, 1, H, W) logits (see conf/model/unet.yaml). Models with a different
training scheme, like pix2pix, subclass it and keep its validation and test steps.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from src.net_module import NetModule, OptimizerFactory, check_optimizer
from utils.vessels.images import log_image_row
from utils.vessels.metrics import (
    THRESHOLD,
    BestThreshold,
    image_metrics,
    inside_fov,
    tuned_metrics,
    vessel_metrics,
)


class Segmenter(NetModule):
    """Trains `net` with `loss` and `optimizer`; evaluates whole images inside their FOV.

    `net` returns logits; `forward` returns vessel probabilities in [0, 1] for images of any size,
    padding them to the net's `size_multiple` and cropping the output back.

    The speed switches `compile` and `channels_last` are NetModule's.
    """

    def __init__(
        self,
        net: nn.Module,
        loss: nn.Module | None = None,
        optimizer: OptimizerFactory | None = None,
        name: str = "segmenter",
        compile: bool = False,
        channels_last: bool = False,
    ) -> None:
        super().__init__(net, name, compile, channels_last)
        self.loss = loss
        self.optimizer_factory = check_optimizer(optimizer, "model.optimizer")
        self.val_metrics = vessel_metrics(prefix="val/")
        self.test_metrics = vessel_metrics(prefix="test/")
        # The threshold with the best validation F1, chosen at each validation and saved in the
        # checkpoints (a buffer), so best.ckpt holds the one of its own epoch; test.py and
        # predict.py report the scores at 0.5 and at it.
        self.val_threshold = BestThreshold()
        self.register_buffer("tuned_threshold", torch.tensor(THRESHOLD))
        self.test_tuned = tuned_metrics(prefix="test/")

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Vessel probabilities (B, 1, H, W) in [0, 1]."""
        return torch.sigmoid(self.logits(image).float())  # float: bf16 would tie at 0.5

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.loss(self.logits(batch["image"]), batch["label"])
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(self.parameters())

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        probs = self(batch["image"])
        scored = inside_fov(probs, batch["label"], batch["fov"])
        self.val_metrics.update(*scored)
        self.val_threshold.update(*scored)
        self.log_dict(self.val_metrics, prog_bar=True, batch_size=len(probs))
        if batch_idx == 0:
            log_image_row(
                self.loggers,
                "val/input_prediction_label",
                self.global_step,
                [batch["image"][0], probs[0], batch["label"][0]],
            )

    def on_validation_epoch_end(self) -> None:
        self.tuned_threshold.fill_(self.val_threshold.compute())
        self.val_threshold.reset()
        self.log("val/threshold_tuned", self.tuned_threshold)

    def test_step(self, batch: dict, batch_idx: int) -> list[dict]:
        """Score each image; the returned per-image records feed the ResultWriter callback."""
        probs = self(batch["image"])
        if probs.shape[-2:] != batch["label"].shape[-2:]:
            # An image resized to the training FOV diameter (test.py data=<other>): its map goes
            # back to the label's pixels, which are what is scored.
            size = batch["label"].shape[-2:]
            probs = F.interpolate(probs, size=size, mode="bilinear").clamp(0, 1)
        preds, target = inside_fov(probs, batch["label"], batch["fov"])
        self.test_metrics.update(preds, target)
        self.test_tuned.update((preds > self.tuned_threshold).float(), target)
        self.log_dict(self.test_metrics, batch_size=len(probs))
        self.log_dict(self.test_tuned, batch_size=len(probs))
        self.log("test/threshold_tuned", self.tuned_threshold, batch_size=len(probs))
        tuned = float(self.tuned_threshold)  # once per batch: a device-to-host copy
        return [
            {
                "name": batch["name"][i],
                "image": batch["image"][i].cpu(),
                "probs": probs[i].float().cpu(),
                "label": batch["label"][i].cpu(),
                "fov": batch["fov"][i].cpu(),
                "metrics": image_metrics(probs[i], batch["label"][i], batch["fov"][i], tuned),
            }
            for i in range(len(probs))
        ]
