"""What every LightningModule of src/ shares: a main net, the speed switches, a forward pass for
images of any size, and optimisers given as factories by the config (`_partial_: true`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F

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


class NetModule(L.LightningModule):
    """A LightningModule around `net`, a module that maps (B, C, H, W) images to (B, K, H, W)
    logits for H and W multiples of its `size_multiple` (1 without one).

    Speed switches (README, "Speed switches"): `channels_last` stores the nets' weights and
    inputs as NHWC, which the CPU and GPU convolution kernels prefer; `compile` runs the nets
    through torch.compile (the first steps pay for compiling). Neither changes what is learned
    or the checkpoint's keys.
    """

    def __init__(
        self, net: nn.Module, name: str, compile: bool = False, channels_last: bool = False
    ) -> None:
        super().__init__()
        self.net = net
        self.name = name
        self.compile_nets = compile
        self.channels_last = channels_last

    def nets(self) -> list[nn.Module]:
        """The networks the speed switches apply to (a GAN adds its discriminator)."""
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
