"""The LightningModule all models share: supervised training and one evaluation path.

A new segmentation network needs no new LightningModule: give `Segmenter` any `nn.Module` that maps
(B, C, H, W) images to (B, 1, H, W) logits (see conf/model/unet.yaml). Models with a different
training scheme, like pix2pix, subclass it and keep its validation and test steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F

from utils.vessels.images import log_image_row
from utils.vessels.metrics import (
    THRESHOLD,
    BestThreshold,
    image_metrics,
    inside_fov,
    tuned_metrics,
    vessel_metrics,
)

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


def check_optimizer(factory: OptimizerFactory | None, key: str) -> OptimizerFactory | None:
    """Return `factory` once it has built an optimiser over a dummy parameter: a bad learning
    rate or beta fails here, when the model is built, not at the first training step."""
    if factory is not None:
        try:
            factory([nn.Parameter(torch.zeros(1))])
        except (TypeError, ValueError) as error:
            raise ValueError(f"{key}: {error}") from error
    return factory


class Segmenter(L.LightningModule):
    """Trains `net` with `loss` and `optimizer`; evaluates whole images inside their FOV.

    `net` returns logits; `forward` returns vessel probabilities in [0, 1] for images of any size,
    padding them to the net's `size_multiple` and cropping the output back.

    Speed switches (README, "Speed switches"): `channels_last` stores the nets' weights and
    inputs as NHWC, which the CPU and GPU convolution kernels prefer; `compile` runs the nets
    through torch.compile (the first steps pay for compiling). Neither changes what is learned
    or the checkpoint's keys.
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
        super().__init__()
        self.net = net
        self.loss = loss
        self.optimizer_factory = check_optimizer(optimizer, "model.optimizer")
        self.name = name
        self.compile_nets = compile
        self.channels_last = channels_last
        self.val_metrics = vessel_metrics(prefix="val/")
        self.test_metrics = vessel_metrics(prefix="test/")
        # The threshold with the best validation F1, chosen at each validation and saved in the
        # checkpoints (a buffer), so best.ckpt holds the one of its own epoch; test.py and
        # predict.py report the scores at 0.5 and at it.
        self.val_threshold = BestThreshold()
        self.register_buffer("tuned_threshold", torch.tensor(THRESHOLD))
        self.test_tuned = tuned_metrics(prefix="test/")

    def nets(self) -> list[nn.Module]:
        """The networks the speed switches apply to (pix2pix adds its discriminator)."""
        return [self.net]

    def configure_model(self) -> None:
        # Called by the Trainer before fit and test, on the device the nets will run on.
        for net in self.nets():
            if self.channels_last:
                net.to(memory_format=torch.channels_last)
            if self.compile_nets and not getattr(net, "_compiled_call_impl", None):
                net.compile()  # in place: the state_dict keys stay those of the eager net

    @property
    def size_multiple(self) -> int:
        """Height and width the net needs its input to be a multiple of."""
        return int(getattr(self.net, "size_multiple", 1))

    def logits(self, image: torch.Tensor) -> torch.Tensor:
        """Logits of `net` for (B, C, H, W) images of any H and W."""
        height, width = image.shape[-2:]
        pad_h = -height % self.size_multiple
        pad_w = -width % self.size_multiple
        if pad_h or pad_w:
            # Reflection keeps image statistics at the border, unlike zeros; it needs the pad to
            # be smaller than the image, so tiny inputs repeat their edge instead.
            fits = pad_h < height and pad_w < width
            image = F.pad(image, (0, pad_w, 0, pad_h), mode="reflect" if fits else "replicate")
        if self.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        return self.net(image)[..., :height, :width]

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
