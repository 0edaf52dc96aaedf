"""`trainer.precision=auto`: the fastest mixed precision the training device computes natively.

bf16 halves the memory traffic of activations and, on hardware with bf16 arithmetic (CUDA GPUs
from Ampere on, CPUs with AVX-512 BF16 or AMX), runs the convolutions faster at no measurable
cost in the scores (README, "Speed switches"). Elsewhere bf16 is emulated and slower than fp32:
a CUDA GPU without it (V100, T4) computes fp16 natively instead, so `auto` picks 16-mixed there
(Lightning scales the loss against fp16 underflow; utils/loss.py sums in float32 against its
overflow), and 32-true on any other device. Any other value of trainer.precision is kept.

`choose_precision` is the rule, on device facts given as plain values; `read_device_facts`
reads them from this machine; `pick_precision` joins the two for train.py and test.py.
`on_device` runs a trained model outside a Trainer (predict.py) as its Trainer ran it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from omegaconf import DictConfig

log = logging.getLogger(__name__)

AUTO = "auto"
BF16, FP16, FP32 = "bf16-mixed", "16-mixed", "32-true"
MAY_PICK_CUDA = ("auto", "gpu", "cuda")  # trainer.accelerator values that train on a CUDA GPU


@dataclass(frozen=True)
class DeviceFacts:
    """What `auto` needs to know of a machine.

    `cuda_native_bf16` counts bf16 computed by the GPU itself, not emulated (on a real machine:
    `torch.cuda.is_bf16_supported(including_emulation=False)`).
    """

    cuda_available: bool = False
    cuda_native_bf16: bool = False
    cuda_name: str = "the CUDA device"
    cpu_native_bf16: bool = False  # AVX-512 BF16 or AMX


def choose_precision(requested: str, accelerator: str, facts: DeviceFacts) -> tuple[str, str]:
    """The precision to train in on a device described by `facts`, and why, in words.

    `requested` other than "auto" is returned as it is. `accelerator` is trainer.accelerator
    ("auto", "cpu", "gpu", "cuda", ...): "auto" trains on the CUDA GPU where there is one.
    """
    if requested != AUTO:
        return requested, "set explicitly"
    if accelerator in MAY_PICK_CUDA and facts.cuda_available:
        if facts.cuda_native_bf16:
            return BF16, f"{facts.cuda_name} computes bf16"
        return FP16, f"{facts.cuda_name} has no native bf16 (it would be emulated) but has fp16"
    if accelerator in ("auto", "cpu"):
        if facts.cpu_native_bf16:
            return BF16, "this CPU has AVX-512 BF16 or AMX"
        return FP32, "this CPU has neither AVX-512 BF16 nor AMX (bf16 would be emulated)"
    return FP32, f"accelerator={accelerator} without CUDA: half precision not checked"


def read_device_facts(accelerator: str) -> DeviceFacts:
    """The facts of this machine that `choose_precision` needs for `accelerator`.

    The GPU is queried (which starts CUDA in this process) only when `accelerator` may train on
    it; otherwise `cuda_native_bf16` is left False.
    """
    import torch

    cpu = torch.cpu
    cpu_native_bf16 = cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported()
    cuda_available = torch.cuda.is_available()
    if not (cuda_available and accelerator in MAY_PICK_CUDA):
        return DeviceFacts(cuda_available=cuda_available, cpu_native_bf16=cpu_native_bf16)
    return DeviceFacts(
        cuda_available=True,
        cuda_native_bf16=torch.cuda.is_bf16_supported(including_emulation=False),
        cuda_name=f"CUDA device {torch.cuda.get_device_name()}",
        cpu_native_bf16=cpu_native_bf16,
    )


def native_bf16(accelerator: str) -> tuple[bool, str]:
    """Whether the device `accelerator` ("auto", "cpu", "gpu", "cuda", ...) will train on computes
    bf16 natively, and what was found, in words."""
    precision, reason = choose_precision(AUTO, accelerator, read_device_facts(accelerator))
    return precision == BF16, reason


def pick_precision(trainer_cfg: DictConfig) -> str:
    """Replace trainer.precision=auto in `trainer_cfg` with what this machine runs fastest, log
    the choice, and return it; any other value is returned as it is, without querying the device."""
    requested = str(trainer_cfg.precision)
    if requested != AUTO:
        return requested
    accelerator = str(trainer_cfg.get("accelerator", AUTO))
    precision, reason = choose_precision(requested, accelerator, read_device_facts(accelerator))
    trainer_cfg.precision = precision
    log.info("trainer.precision=auto -> %s: %s", precision, reason)
    return precision


AUTOCAST = {BF16: "bfloat16", FP16: "float16"}  # Lightning's names, torch's dtypes


def on_device(model: Any, device: str = "auto", precision: object = FP32) -> Callable[[Any], Any]:
    """`model` set up as the Trainer sets it up for training, as a function of a CPU tensor.

    The model goes to `device` (auto: the CUDA GPU when there is one, else the CPU) with the
    memory format and compilation it trained with (its `configure_model`); each input is moved
    there and run under the autocast of the `precision` it trained in (16-mixed on a GPU only).
    """
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    target = torch.device(device)
    model.to(target)
    if hasattr(model, "configure_model"):
        model.configure_model()
    model.eval()
    dtype = getattr(torch, AUTOCAST[str(precision)]) if str(precision) in AUTOCAST else None
    if dtype is torch.float16 and target.type != "cuda":
        dtype = None

    def run(batch: torch.Tensor) -> torch.Tensor:
        with torch.autocast(target.type, dtype=dtype, enabled=dtype is not None):
            return model(batch.to(target, non_blocking=True))

    return run
