"""Mixed precision: what trainer.precision=auto picks on each device, and losses safe in fp16/bf16.

The device facts are given as plain values, so every case runs on a machine without a GPU.
"""

from __future__ import annotations

import inspect
import logging

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

import utils.loss
from tests.test_config import compose_config
from utils.engine import precision
from utils.engine.precision import DeviceFacts, choose_precision, pick_precision
from utils.loss import BCEDiceLoss, DiceLoss, GANLoss, L1Loss

AMPERE = DeviceFacts(cuda_available=True, cuda_native_bf16=True, cuda_name="A100")
VOLTA = DeviceFacts(cuda_available=True, cuda_native_bf16=False, cuda_name="V100")
BF16_CPU = DeviceFacts(cpu_native_bf16=True)
PLAIN_CPU = DeviceFacts()


@pytest.mark.parametrize(
    "accelerator,facts,picked",
    [
        ("gpu", AMPERE, "bf16-mixed"),
        ("auto", AMPERE, "bf16-mixed"),
        ("cuda", VOLTA, "16-mixed"),  # bf16 would be emulated, fp16 is native
        ("auto", VOLTA, "16-mixed"),
        ("cpu", BF16_CPU, "bf16-mixed"),  # AVX-512 BF16 or AMX
        ("auto", BF16_CPU, "bf16-mixed"),
        ("cpu", PLAIN_CPU, "32-true"),
        ("auto", PLAIN_CPU, "32-true"),
        ("cpu", DeviceFacts(cuda_available=True, cuda_native_bf16=True), "32-true"),  # GPU unused
        ("gpu", PLAIN_CPU, "32-true"),  # no CUDA: another kind of GPU (Apple's mps)
        ("mps", BF16_CPU, "32-true"),
    ],
)
def test_auto_picks_the_fastest_precision_the_device_computes(
    accelerator: str, facts: DeviceFacts, picked: str
) -> None:
    chosen, reason = choose_precision("auto", accelerator, facts)
    assert chosen == picked and reason


@pytest.mark.parametrize("given", ["32-true", "16-mixed", "bf16-mixed", "64-true"])
@pytest.mark.parametrize("facts", [AMPERE, VOLTA, BF16_CPU, PLAIN_CPU])
def test_an_explicit_precision_is_kept(given: str, facts: DeviceFacts) -> None:
    assert choose_precision(given, "auto", facts)[0] == given


def test_the_pick_is_logged_and_written_into_the_config(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(precision, "read_device_facts", lambda accelerator: VOLTA)
    trainer_cfg = compose_config(["trainer=gpu"]).trainer
    with caplog.at_level(logging.INFO):
        assert pick_precision(trainer_cfg) == "16-mixed"
    assert trainer_cfg.precision == "16-mixed"  # what params.yaml records
    assert "trainer.precision=auto -> 16-mixed: V100 has no native bf16" in caplog.text


def test_an_explicit_precision_does_not_query_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(accelerator: str) -> DeviceFacts:
        raise AssertionError("queried the device for an explicit precision")

    monkeypatch.setattr(precision, "read_device_facts", fail)
    assert pick_precision(OmegaConf.create({"precision": "32-true"})) == "32-true"


@pytest.mark.parametrize(
    "trainer,expected",
    [
        ("default", "auto"),
        ("cpu", "auto"),
        ("gpu", "auto"),
        ("ddp", "auto"),
        ("ddp_cpu", "32-true"),  # the DDP code path on any CPU, kept in fp32 on purpose
    ],
)
def test_trainer_presets_leave_precision_to_auto(trainer: str, expected: str) -> None:
    assert compose_config([f"trainer={trainer}"]).trainer.precision == expected


# A realistic batch: 16 patches of 128 x 128. Probabilities near 0.5 sum to about 131,000,
# beyond fp16's largest value (65,504).
SHAPE = (16, 1, 128, 128)
LOSSES = {
    "dice": (DiceLoss(), "target"),
    "bce_dice": (BCEDiceLoss(), "target"),
    "l1": (L1Loss(), "target"),
    "gan_vanilla_real": (GANLoss("vanilla"), True),
    "gan_vanilla_fake": (GANLoss("vanilla"), False),
    "gan_lsgan_real": (GANLoss("lsgan"), True),
    "gan_lsgan_fake": (GANLoss("lsgan"), False),
}


def test_every_loss_is_checked_in_half_precision() -> None:
    defined = {
        cls
        for _, cls in inspect.getmembers(utils.loss, inspect.isclass)
        if issubclass(cls, nn.Module) and cls.__module__ == utils.loss.__name__
    }
    assert defined == {type(loss) for loss, _ in LOSSES.values()}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_of_half_precision_logits_sum_in_float32(name: str, dtype: torch.dtype) -> None:
    loss_fn, second = LOSSES[name]
    generator = torch.Generator().manual_seed(0)
    # Logits of an untrained net (near 0) and a vessel map with about 1 pixel in 8 a vessel.
    logits = torch.randn(SHAPE, generator=generator).to(dtype).requires_grad_()
    target = (torch.rand(SHAPE, generator=generator) < 0.125).to(dtype)
    reference = loss_fn(logits.detach().float(), target.float() if second == "target" else second)

    loss = loss_fn(logits, target if second == "target" else second)
    loss.backward()

    assert loss.dtype == torch.float32, "the reduction ran in half precision"
    assert torch.isfinite(loss) and loss.item() == pytest.approx(reference.item(), rel=1e-2)
    assert logits.grad is not None and logits.grad.dtype == dtype
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_keep_float64(name: str) -> None:
    loss_fn, second = LOSSES[name]
    logits = torch.randn(2, 1, 8, 8, dtype=torch.float64)
    target = (torch.rand(2, 1, 8, 8) < 0.125).double()
    assert loss_fn(logits, target if second == "target" else second).dtype == torch.float64


def test_predict_runs_the_model_as_it_trained() -> None:
    """predict.py's runner: the device, memory format and autocast of the training run; on the
    CPU in fp32 the same probabilities as the model called directly."""
    import torch

    from src.segmenter import Segmenter
    from src.unet import UNet
    from utils.engine.precision import on_device

    torch.manual_seed(0)
    model = Segmenter(UNet(base_channels=4, depth=2), channels_last=True).eval()
    tile = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        plain = model(tile)
        same = on_device(model, "cpu", "32-true")(tile)
        mixed = on_device(model, "auto", "bf16-mixed")(tile)  # auto: the CPU here
    assert model.net.head.weight.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(same, plain)
    assert mixed.dtype == torch.float32 and torch.allclose(mixed, plain, atol=2e-2)
    assert not torch.equal(mixed, plain), "bf16 autocast was in force"
