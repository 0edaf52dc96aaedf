"""Losses, metrics, result images and checkpoint loading in utils/."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from utils.checkpoint import CheckpointError, read_checkpoint
from utils.loss import BCEDiceLoss, DiceLoss, GANLoss
from utils.metrics import image_metrics
from utils.results import (
    FALSE_NEGATIVE,
    FALSE_POSITIVE,
    TRUE_POSITIVE,
    ResultWriter,
    error_overlay,
)


def test_dice_loss_rewards_overlap() -> None:
    target = torch.zeros(1, 1, 8, 8)
    target[..., 2:5, 2:5] = 1.0
    perfect = torch.where(target > 0, 20.0, -20.0)
    assert DiceLoss()(perfect, target) < 0.01
    assert DiceLoss()(-perfect, target) > 0.9
    assert BCEDiceLoss()(perfect, target) < BCEDiceLoss()(torch.zeros_like(target), target)


def test_gan_loss_modes() -> None:
    confident_real = torch.full((2, 1, 3, 3), 10.0)
    for mode in ("vanilla", "lsgan"):
        loss = GANLoss(mode)
        assert loss(confident_real, real=True) < loss(confident_real, real=False)
    with pytest.raises(ValueError, match="'wgan' is unknown"):
        GANLoss("wgan")


def test_image_metrics_count_only_the_field_of_view() -> None:
    label = torch.tensor([[[1.0, 0.0, 1.0, 0.0]]])
    probs = torch.tensor([[[0.9, 0.2, 0.1, 0.8]]])
    fov = torch.tensor([[[True, True, False, False]]])
    scores = image_metrics(probs, label, fov)
    assert scores["f1"] == 1.0 and scores["accuracy"] == 1.0 and scores["auroc"] == 1.0
    everywhere = image_metrics(probs, label, torch.ones_like(fov))
    assert everywhere["f1"] == 0.5 and everywhere["accuracy"] == 0.5


def test_error_overlay_colours() -> None:
    probs = torch.tensor([[[0.9, 0.9, 0.1, 0.1, 0.9]]])
    label = torch.tensor([[[1.0, 0.0, 1.0, 0.0, 1.0]]])
    fov = torch.tensor([[[True, True, True, True, False]]])
    overlay = error_overlay(probs, label, fov)
    assert tuple(overlay[:, 0, 0].tolist()) == TRUE_POSITIVE
    assert tuple(overlay[:, 0, 1].tolist()) == FALSE_POSITIVE
    assert tuple(overlay[:, 0, 2].tolist()) == FALSE_NEGATIVE
    assert overlay[:, 0, 3].tolist() == [0, 0, 0]
    assert overlay[:, 0, 4].tolist() == [40, 40, 40], "outside the FOV is not scored"


def test_a_damaged_checkpoint_is_named_without_unsafe_advice(tmp_path: Path) -> None:
    damaged = tmp_path / "best.ckpt"
    torch.save({"state_dict": {"w": torch.ones(3)}}, damaged)
    assert read_checkpoint(damaged)["state_dict"]["w"].sum() == 3
    damaged.write_bytes(damaged.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="best.ckpt is not a readable") as error:
        read_checkpoint(damaged)
    assert "weights_only" not in str(error.value) and "\n" not in str(error.value)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"epoch": 3}, foreign)
    with pytest.raises(CheckpointError, match="holds no model weights"):
        read_checkpoint(foreign)


def test_result_writer_lists_the_worst_image_first(tmp_path: Path) -> None:
    writer = ResultWriter(
        metrics=str(tmp_path / "metrics.json"),
        per_image=str(tmp_path / "per_image.csv"),
        predictions_dir=str(tmp_path / "predictions"),
        errors_dir=str(tmp_path / "errors"),
    )
    writer.on_test_start(None, None)
    probs = torch.full((1, 4, 4), 0.9)
    records = [
        {
            "name": name,
            "image": torch.rand(3, 4, 4),
            "probs": probs,
            "label": torch.ones(1, 4, 4),
            "fov": torch.ones(1, 4, 4, dtype=torch.bool),
            "metrics": {
                "auroc": 0.9,
                "f1": f1,
                "accuracy": 0.9,
                "sensitivity": 0.9,
                "specificity": 0.9,
            },
        }
        for name, f1 in (("good", 0.9), ("bad", 0.3))
    ]
    writer.on_test_batch_end(None, None, records, {}, 0)
    trainer = SimpleNamespace(
        callback_metrics={
            f"test/{k}": torch.tensor(0.5)
            for k in ("auroc", "f1", "accuracy", "sensitivity", "specificity")
        }
    )
    writer.on_test_end(trainer, None)
    rows = list(csv.DictReader((tmp_path / "per_image.csv").open()))
    assert [row["name"] for row in rows] == ["bad", "good"]
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert summary["worst_image"] == "bad" and summary["images"] == 2 and summary["f1"] == 0.5
    assert (tmp_path / "errors/bad.png").is_file() and (tmp_path / "predictions/good.png").is_file()
    writer.on_test_start(None, None)
    assert not (tmp_path / "metrics.json").exists() and not any((tmp_path / "errors").iterdir())
