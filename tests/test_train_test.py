"""End to end: `train.py` then `test.py` through the real command line, in a temporary folder."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import REPO, make_dataset, run_script
from tests.readme import readme_command

pytestmark = pytest.mark.slow


def train(tmp_path: Path, dataset: Path, *overrides: str):
    return run_script("train.py", "debug=fast", f"data.root={dataset}", *overrides, cwd=tmp_path)


def check_ok(result) -> None:
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def test_unet_train_then_test_writes_the_experiment_folder(tmp_path: Path, dataset: Path) -> None:
    result = train(tmp_path, dataset)
    check_ok(result)
    assert "Tip:" not in result.stdout + result.stderr, "Lightning's adverts are filtered"
    exp = tmp_path / "experiment/unet_synthetic_debug_fast"
    params = yaml.safe_load((exp / "params.yaml").read_text())
    assert params["exp_name"] == "unet_synthetic_debug_fast"
    assert params["model"]["net"]["base_channels"] == 16
    assert "debug=fast" in yaml.safe_load((exp / "record.yaml").read_text())["overrides"]
    assert "${" not in (exp / "params.yaml").read_text(), "every interpolation is resolved"
    assert {p.name for p in (exp / "model").iterdir()} == {"best.ckpt", "last.ckpt"}
    assert "Experiment unet_synthetic_debug_fast" in (exp / "log/train.log").read_text()

    events = EventAccumulator(
        str(exp / "log/tensorboard"), size_guidance={"scalars": 0, "images": 0}
    )
    events.Reload()
    assert {"train/loss", "val/f1", "val/auroc"} <= set(events.Tags()["scalars"])
    assert "val/input_prediction_label" in events.Tags()["images"]

    check_ok(
        run_script(
            "test.py",
            "exp_name=unet_synthetic_debug_fast",
            "trainer.limit_test_batches=1",
            cwd=tmp_path,
        )
    )
    result = exp / "result"
    metrics = json.loads((result / "metrics.json").read_text())
    assert {"auroc", "f1", "accuracy", "sensitivity", "specificity"} <= set(metrics)
    assert {"cldice", "fragments", "label_fragments", "f1_tuned", "sensitivity_tuned"} <= set(
        metrics
    )
    # The threshold tested at is the one chosen on validation and saved with the best weights.
    kept = torch.load(exp / "model/best.ckpt", weights_only=True)["state_dict"]["tuned_threshold"]
    assert metrics["threshold_tuned"] == pytest.approx(float(kept))
    assert "val/threshold_tuned" in events.Tags()["scalars"]
    assert all(0.0 <= metrics[k] <= 1.0 for k in ("f1", "accuracy", "specificity"))
    rows = list(csv.DictReader((result / "per_image.csv").open()))
    assert rows[0]["name"] == "01_test" and "f1" in rows[0]
    assert all(0.0 <= float(row["f1_tuned"]) <= 1.0 for row in rows), "per image, tuned too"
    assert (result / "predictions/01_test.png").is_file()
    assert (result / "errors/01_test.png").is_file()
    scored_on_another_dataset(tmp_path, "unet_synthetic_debug_fast")


def scored_on_another_dataset(tmp_path: Path, name: str) -> None:
    """The README's `test.py exp_name=<exp> data=other_camera` on the experiment `name`, trained
    and tested at home: another dataset's test split, scored into result/on_other_camera/, the
    home results untouched; the report's matrix; the home dataset refused as `data=`."""
    other = make_dataset(tmp_path / "other", n_train=2, n_test=2, val_count=1, camera="other")
    home = tmp_path / f"experiment/{name}/result"
    before = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
    words = readme_command("python test.py exp_name=unet_synthetic_noaug data=other_camera")
    assert words[3:] == ["data=other_camera"]
    result = run_script(
        "test.py", f"exp_name={name}", *words[3:], f"data.root={other}", cwd=tmp_path
    )
    check_ok(result)
    assert "on other_camera" in result.stderr + result.stdout
    scored = json.loads((home / "on_other_camera/metrics.json").read_text())
    assert scored["images"] == 2 and 0.0 <= scored["f1"] <= 1.0
    assert {p.name for p in (home / "on_other_camera/predictions").iterdir()} == {
        "01_test.png",
        "02_test.png",
    }
    after = {p: p.read_bytes() for p in home.rglob("*") if p.is_file() and "on_" not in str(p)}
    assert after == before, "the home results are untouched"

    report = subprocess.run(
        [sys.executable, "-m", "bookkeeping.report"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert report.returncode == 0, report.stderr
    matrix = report.stdout.split("tested on others")[1]
    assert "other_camera: F1" in matrix and f"{scored['f1']:.4f}" in matrix

    same = run_script("test.py", f"exp_name={name}", "data=synthetic", cwd=tmp_path)
    assert same.returncode == 1
    assert f"was trained on data=synthetic: python test.py exp_name={name} scores" in same.stderr


def test_missing_drive_stops_before_any_work(tmp_path: Path) -> None:
    result = run_script("train.py", "model=pix2pix", "data=drive", cwd=tmp_path)
    assert result.returncode == 1
    assert "DRIVE was not found" in result.stderr and "data=synthetic" in result.stderr
    assert not (tmp_path / "experiment").exists()


def test_overfit_mode_drives_the_training_loss_down(tmp_path: Path, dataset: Path) -> None:
    command = readme_command("python train.py debug=overfit logger=csv")
    result = run_script(
        *command[1:], f"data.root={dataset}", "trainer.max_epochs=100", cwd=tmp_path
    )
    check_ok(result)
    log = tmp_path / "experiment/unet_synthetic_debug_overfit/log/csv/metrics.csv"
    losses = [float(row["train/loss"]) for row in csv.DictReader(log.open()) if row["train/loss"]]
    assert len(losses) == 100
    assert losses[-1] < 0.6 * losses[0], f"loss went from {losses[0]:.3f} to {losses[-1]:.3f}"
