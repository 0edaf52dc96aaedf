"""End to end: `train.py` then `test.py` through the real command line, in a temporary folder."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import run_script
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
    assert all(0.0 <= metrics[k] <= 1.0 for k in ("f1", "accuracy", "specificity"))
    rows = list(csv.DictReader((result / "per_image.csv").open()))
    assert rows[0]["name"] == "01_test" and "f1" in rows[0]
    assert (result / "predictions/01_test.png").is_file()
    assert (result / "errors/01_test.png").is_file()


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
