"""`trainer.precision=auto`: bf16 mixed precision where the hardware computes bf16 natively.

bf16 halves the memory traffic of activations and, on hardware with bf16 arithmetic (CUDA GPUs
from Ampere on, CPUs with AVX-512 BF16 or AMX), runs the convolutions faster at no measurable
cost in the scores (README, "Speed switches"). Elsewhere it is emulated and slower than fp32, so
`auto` falls back to 32-bit there. Any other value of trainer.precision is passed to Lightning.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from omegaconf import DictConfig

log = logging.getLogger(__name__)

AUTO = "auto"
BF16, FP32 = "bf16-mixed", "32-true"


def native_bf16(accelerator: str) -> tuple[bool, str]:
    """Whether the device `accelerator` ("auto", "cpu", "gpu", "cuda", ...) will train on computes
    bf16 natively, and what was found, in words."""
    import torch

    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        name = torch.cuda.get_device_name()
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return True, f"CUDA device {name} computes bf16"
        return False, f"CUDA device {name} has no native bf16"
    if accelerator in ("auto", "cpu"):
        cpu = torch.cpu
        if cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported():
            return True, "this CPU has AVX-512 BF16 or AMX"
        return False, "this CPU has neither AVX-512 BF16 nor AMX (bf16 would be emulated)"
    return False, f"accelerator={accelerator}: bf16 support not checked"


def pick_precision(trainer_cfg: DictConfig) -> str:
    """Replace trainer.precision=auto in `trainer_cfg` with what this machine runs fastest, log
    the choice, and return it; any other value is returned as it is."""
    if str(trainer_cfg.precision) != AUTO:
        return str(trainer_cfg.precision)
    native, reason = native_bf16(str(trainer_cfg.get("accelerator", "auto")))
    trainer_cfg.precision = BF16 if native else FP32
    log.info("trainer.precision=auto -> %s: %s", trainer_cfg.precision, reason)
    return trainer_cfg.precision
