"""Losses, metrics, result images and checkpoint loading in utils/."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from utils.engine.checkpoint import CheckpointError, read_checkpoint
from utils.loss import BCEDiceLoss, DiceLoss, GANLoss
from utils.vessels.metrics import BestThreshold, image_metrics
from utils.vessels.results import (
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
    assert "f1_tuned" not in everywhere, "without a tuned threshold, no tuned scores"


def test_image_metrics_at_the_tuned_threshold_beside_those_at_one_half() -> None:
    label = torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
    probs = torch.tensor([[[0.4, 0.45, 0.3, 0.1]]])  # a shy model: every vessel under 0.5
    fov = torch.ones_like(label, dtype=torch.bool)
    scores = image_metrics(probs, label, fov, tuned_threshold=0.35)
    assert scores["f1"] == 0.0 and scores["sensitivity"] == 0.0
    assert scores["f1_tuned"] == 1.0 and scores["specificity_tuned"] == 1.0


def vessel_tree() -> torch.Tensor:
    """A 1-pixel-wide tree on a 96 x 96 map: a trunk and two branches (1, 96, 96)."""
    tree = torch.zeros(1, 96, 96)
    tree[0, 8:88, 48] = 1.0  # the trunk
    for step in range(30):  # two diagonal branches leaving it at row 40
        tree[0, 40 + step, 48 - step] = tree[0, 40 + step, 48 + step] = 1.0
    return tree


def test_connectivity_sees_the_cut_tree_that_pixel_f1_prefers() -> None:
    """A tree cut at a few pixels keeps a high pixel F1; a tree drawn a pixel too wide on each
    side halves it. clDice and the fragment count rank them the other way, as a reader would."""
    label = vessel_tree()
    fov = torch.ones_like(label, dtype=torch.bool)
    cut = label.clone()
    for row in (20, 30, 60, 75):
        cut[0, row : row + 2, 48] = 0.0
    cut[0, 50:52] = 0.0  # the trunk and both branches once more: 8 pieces in all
    wide = torch.nn.functional.max_pool2d(label[None], 3, stride=1, padding=1)[0]
    broken, thick = image_metrics(cut, label, fov), image_metrics(wide, label, fov)
    assert broken["f1"] > 0.9 > 0.6 > thick["f1"], (broken["f1"], thick["f1"])
    assert thick["cldice"] > broken["cldice"] + 0.02, (thick["cldice"], broken["cldice"])
    assert broken["label_fragments"] == thick["label_fragments"] == thick["fragments"] == 1
    assert broken["fragments"] == 8
    nothing = torch.zeros_like(label)
    assert image_metrics(nothing, nothing, fov)["cldice"] == 1.0
    assert image_metrics(nothing, label, fov)["cldice"] == 0.0


def test_best_threshold_is_the_one_with_the_highest_f1_over_every_batch() -> None:
    """Vessels at 0.30 to 0.40 and background below 0.25, seen in two batches: any threshold
    between them separates them (F1 1), 0.5 finds no vessel; one stray background pixel at
    0.35 costs less than moving above it."""
    chooser = BestThreshold(bins=100)
    chooser.update(torch.tensor([0.30, 0.35, 0.10]), torch.tensor([1, 1, 0]))
    chooser.update(torch.tensor([0.40, 0.24, 0.00]), torch.tensor([1, 0, 0]))
    threshold = float(chooser.compute())
    assert 0.24 < threshold <= 0.30, threshold
    chooser.update(torch.tensor([0.35]), torch.tensor([0]))
    assert 0.24 < float(chooser.compute()) <= 0.30
    chooser.reset()
    chooser.update(torch.tensor([0.2, 0.9]), torch.tensor([0, 0]))
    assert float(chooser.compute()) == 0.5, "no vessel seen: the usual threshold"


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


def written(tmp_path: Path, sort_by: str = "f1") -> tuple[ResultWriter, list[dict], dict]:
    """Two images through a ResultWriter: `good` (F1 0.9, clDice 0.9, 40 pieces) and `bad`
    (F1 0.3, clDice 0.5, 2 pieces); its per_image.csv rows and metrics.json."""
    writer = ResultWriter(
        metrics=str(tmp_path / "metrics.json"), results_dir=str(tmp_path), sort_by=sort_by
    )
    writer.on_test_start(None, None)
    probs = torch.full((1, 4, 4), 0.9)
    pixel = {"auroc": 0.9, "accuracy": 0.9, "sensitivity": 0.9, "specificity": 0.9}
    records = [
        {
            "name": name,
            "image": torch.rand(3, 4, 4),
            "probs": probs,
            "label": torch.ones(1, 4, 4),
            "fov": torch.ones(1, 4, 4, dtype=torch.bool),
            "metrics": {
                **pixel,
                "f1": f1,
                "cldice": cldice,
                "fragments": pieces,
                "label_fragments": 1.0,
            },
        }
        for name, f1, cldice, pieces in (("good", 0.9, 0.9, 40.0), ("bad", 0.3, 0.5, 2.0))
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
    return writer, rows, json.loads((tmp_path / "metrics.json").read_text())


def test_result_writer_lists_the_worst_image_first(tmp_path: Path) -> None:
    writer, rows, summary = written(tmp_path)
    assert [row["name"] for row in rows] == ["bad", "good"]
    assert summary["worst_image"] == "bad" and summary["images"] == 2 and summary["f1"] == 0.5
    assert summary["cldice"] == pytest.approx(0.7) and summary["fragments"] == 21.0
    assert (tmp_path / "errors/bad.png").is_file() and (tmp_path / "predictions/good.png").is_file()
    writer.on_test_start(None, None)
    assert not (tmp_path / "metrics.json").exists() and not any((tmp_path / "errors").iterdir())
    # Error analysis by connectivity: the most broken map first, whatever its pixel F1.
    _, rows, summary = written(tmp_path, sort_by="fragments")
    assert [row["name"] for row in rows] == ["good", "bad"] and summary["worst_image"] == "bad"
    with pytest.raises(ValueError, match="sort_by='dice': expected one of auroc, f1"):
        written(tmp_path, sort_by="dice")
