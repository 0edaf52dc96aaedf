"""train.py and test.py in this process: real composition, a real fit of a tiny net for a few
batches, the experiment folder it writes, and the guard, resume and repeat rules around it.
The same scripts through the real command line are in test_train_test.py (the full tier)."""

from __future__ import annotations

import json
import os
import runpy
import sys
import uuid
from pathlib import Path

import pytest
import torch
import yaml

import predict as predict_script
import test as test_script
from bookkeeping.config import load_env_file, run_config
from bookkeeping.folder import ExperimentError, ExperimentFolder, experiments
from bookkeeping.report import summary
from src.unet import UNet
from tests.conftest import REPO
from tests.test_config import compose_config
from train import train
from utils.engine.checkpoint import CheckpointError

TINY = [
    "model.net.base_channels=4",
    "data.patch_size=32",
    "data.batch_size=2",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=1",
    "callbacks.progress_bar=null",
    "+trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
    "logger=csv",
]


@pytest.fixture(autouse=True)
def in_a_project_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # experiment/ is relative to where the scripts run


def fit(tmp_path: Path, dataset: Path, *overrides: str) -> tuple[float | None, ExperimentFolder]:
    """Compose conf/train.yaml as train.py does and call its train()."""
    given = [f"data.root={dataset}", *TINY, *overrides]
    cfg, recorded = run_config(compose_config(given), given)
    return train(cfg, recorded), ExperimentFolder("experiment", cfg.exp_name)


def test_train_writes_the_experiment_folder(tmp_path: Path, dataset: Path) -> None:
    best, folder = fit(tmp_path, dataset, "exp_name=tiny")
    assert best is not None and 0.0 <= best <= 1.0
    params = yaml.safe_load(folder.params.read_text())
    assert params["exp_name"] == "tiny" and params["model"]["net"]["base_channels"] == 4
    assert "${" not in folder.params.read_text(), "every interpolation is resolved"
    record = yaml.safe_load(folder.record.read_text())
    assert record["overrides"][0] == f"data.root={dataset}"
    assert record["sessions"][0]["status"] == "finished"
    assert folder.best_checkpoint.is_file() and folder.last_checkpoint.is_file()
    assert torch.load(folder.last_checkpoint, weights_only=True)["global_step"] == 3
    assert "max_epochs=1` reached" in (folder.log_dir / "train.log").read_text()
    assert (folder.log_dir / "csv/metrics.csv").is_file()

    scores = test_script.main(compose_config(["exp_name=tiny"], name="test"))
    assert set(scores) >= {"test/f1", "test/auroc"}
    metrics = json.loads(folder.metrics.read_text())
    assert metrics["f1"] == pytest.approx(scores["test/f1"]) and metrics["images"] == 2
    predictions = folder.test_dir / "predictions"
    assert {p.name for p in predictions.iterdir()} == {"01_test.png", "02_test.png"}


def test_the_folder_is_guarded_and_resume_and_repeat_follow_the_record(
    tmp_path: Path, dataset: Path
) -> None:
    _, folder = fit(tmp_path, dataset, "exp_name=guarded")
    before = folder.params.read_text()
    with pytest.raises(ExperimentError, match="already exists"):
        fit(tmp_path, dataset, "exp_name=guarded", "seed=1")
    assert folder.params.read_text() == before

    with pytest.raises(ExperimentError, match="cannot change seed"):
        fit(tmp_path, dataset, "exp_name=guarded", "resume=true", "seed=1")
    fit(tmp_path, dataset, "exp_name=guarded", "resume=true", "trainer.max_epochs=2")
    assert torch.load(folder.last_checkpoint, weights_only=True)["global_step"] == 6
    sessions = yaml.safe_load(folder.record.read_text())["sessions"]
    assert [s["resumed"] for s in sessions] == [False, True]

    given = ["repeat_of=guarded"]
    cfg, _ = run_config(compose_config(given), given)
    assert cfg.exp_name == "guarded_repeat" and cfg.trainer.max_epochs == 2
    assert cfg.callbacks.last_checkpoint.path == "experiment/guarded_repeat/model/last.ckpt"

    fit(tmp_path, dataset, "exp_name=guarded", "seed=1", "overwrite=true")
    assert yaml.safe_load(folder.params.read_text())["seed"] == 1
    assert yaml.safe_load(folder.record.read_text())["sessions"][0]["resumed"] is False


@pytest.mark.parametrize("name", ["..", ".", "", "/tmp", "a/b", "has space"])
def test_a_bad_name_stops_before_anything_is_written(tmp_path: Path, name: str) -> None:
    given = [f"exp_name='{name}'", "overwrite=true"]
    with pytest.raises(ExperimentError, match="not a valid experiment name"):
        run_config(compose_config(given), given)
    assert list(tmp_path.iterdir()) == []


def test_test_py_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="exp_name=<name>"):
        test_script.main(compose_config([], name="test"))
    with pytest.raises(SystemExit, match="Experiments in experiment/: none yet"):
        test_script.main(compose_config(["exp_name=typo"], name="test"))


def test_test_py_refuses_a_checkpoint_of_another_model(tmp_path: Path, dataset: Path) -> None:
    fit(tmp_path, dataset, "exp_name=real")
    fit(tmp_path, dataset, "exp_name=other", "model.net.base_channels=8")
    given = ["exp_name=other", "checkpoint=experiment/real/model/last.ckpt"]
    with pytest.raises(SystemExit, match="does not fit the model"):
        test_script.main(compose_config(given, name="test"))


def test_early_stopping_ends_the_fit(tmp_path: Path, dataset: Path) -> None:
    # No gain can reach 1.0 in F1: the second validation already counts as no improvement.
    _, folder = fit(
        tmp_path,
        dataset,
        "exp_name=stopped",
        "callbacks=early_stop",
        "callbacks.early_stopping.patience=1",
        "callbacks.early_stopping.min_delta=1.0",
        "trainer.max_epochs=5",
    )
    assert torch.load(folder.last_checkpoint, weights_only=True)["epoch"] == 1, "stopped at 2"


def test_env_file_secrets_never_reach_the_experiment(
    tmp_path: Path, dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"env-file-secret-{uuid.uuid4().hex}"  # made here: no source file or patch holds it
    lines = ["# secrets", f"WANDB_API_KEY={secret}", f"export MY_TOKEN='{secret}'"]
    (tmp_path / ".env").write_text("\n".join(lines) + "\n")
    for key in ("WANDB_API_KEY", "MY_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    # `python train.py ...` from the folder holding .env, in this process: Hydra's command line
    # and train.py's main, as `python` runs the script.
    monkeypatch.setattr(
        sys, "argv", ["train.py", f"data.root={dataset}", *TINY, "exp_name=private"]
    )
    try:
        runpy.run_path(str(REPO / "train.py"), run_name="__main__")
        assert os.environ["WANDB_API_KEY"] == os.environ["MY_TOKEN"] == secret, "loaded"
        test_script.main(compose_config(["exp_name=private"], name="test"))
    finally:
        for key in ("WANDB_API_KEY", "MY_TOKEN"):
            os.environ.pop(key, None)
    folder = ExperimentFolder("experiment", "private")
    written = [path for path in folder.path.rglob("*") if path.is_file()]
    assert {folder.params, folder.record, folder.text_log, folder.metrics} <= set(written)
    for path in written:
        assert secret.encode() not in path.read_bytes(), f"secret written to {path}"
    (tmp_path / ".env").write_text("not a setting\n")
    with pytest.raises(ExperimentError, match=r"\.env:1: expected KEY=VALUE"):
        load_env_file()


def test_report_weighs_scores_against_costs(tmp_path: Path, dataset: Path) -> None:
    fit(tmp_path, dataset, "exp_name=weighed")
    test_script.main(compose_config(["exp_name=weighed"], name="test"))
    [row] = [summary(folder) for folder in experiments("experiment")]
    net = UNet(base_channels=4)
    assert row["params M"] == round(sum(p.numel() for p in net.parameters()) / 1e6, 2)
    assert row["train s"] > 0 and 0 < row["test s/img"] < 10
    assert 0.0 <= row["test F1"] <= 1.0 and row["status"] == "finished"


def test_resume_refuses_what_it_cannot_do(tmp_path: Path, dataset: Path) -> None:
    with pytest.raises(ExperimentError, match="nothing to resume"):
        fit(tmp_path, dataset, "exp_name=absent", "resume=true")
    _, folder = fit(tmp_path, dataset, "exp_name=done")
    folder.last_checkpoint.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="last.ckpt is not a readable"):
        fit(tmp_path, dataset, "exp_name=done", "resume=true")


@pytest.mark.slow  # two fits or a regeneration: the full tier keeps the quick one under a minute
def test_the_experiment_keeps_the_normalization_it_was_trained_with(
    tmp_path: Path, dataset: Path
) -> None:
    import shutil

    from data.normalize import STATISTICS_FILE

    root = shutil.copytree(dataset, tmp_path / "data")
    given = [f"data.root={root}", *TINY, "exp_name=kept", "data.normalize=dataset"]
    cfg, recorded = run_config(compose_config(given), given)
    train(cfg, recorded)
    folder = ExperimentFolder("experiment", "kept")
    trained_with = json.loads((root / STATISTICS_FILE).read_text())
    kept = json.loads(folder.data_statistics.read_text())["normalization"]
    assert kept == {"mean": trained_with["mean"], "std": trained_with["std"]}
    assert yaml.safe_load(folder.params.read_text())["trainer"]["precision"] != "auto"
    photo = f"input={root}/test/images/01_test.tif"
    labels = f"labels={root}/test/1st_manual"

    def scores() -> tuple[dict, list[dict]]:
        tested = test_script.main(compose_config(["exp_name=kept"], name="test"))
        predicted = predict_script.main(
            compose_config(["exp_name=kept", photo, labels], name="predict")
        )
        return tested, [{k: v for k, v in row.items() if k != "seconds"} for row in predicted]

    before = scores()
    # The data folder's statistics change (new data, say): the experiment is still fed as trained.
    (root / STATISTICS_FILE).write_text(
        json.dumps({**trained_with, "mean": [0.0, 0.0, 0.0], "std": [9.0, 9.0, 9.0]})
    )
    assert scores() == before


def test_pix2pix_learning_rates_stay_then_fall_linearly_to_zero(
    tmp_path: Path, dataset: Path
) -> None:
    pix2pix = [
        "model=pix2pix",
        "model.generator.base_channels=4",
        "model.discriminator.base_channels=4",
        "trainer.limit_train_batches=4",
        "exp_name=decay",
    ]
    given = [f"data.root={dataset}", *[o for o in TINY if "model.net" not in o], *pix2pix]
    given += ["trainer.max_epochs=2", "trainer.log_every_n_steps=1"]
    cfg, recorded = run_config(compose_config(given), given)
    train(cfg, recorded)
    import csv

    folder = ExperimentFolder("experiment", "decay")
    with open(folder.log_dir / "csv/metrics.csv", newline="") as file:
        rates = [float(row["train/lr"]) for row in csv.DictReader(file) if row.get("train/lr")]
    # 8 steps: the rate of each step, logged before the scheduler moves on.
    assert rates == pytest.approx([2e-4] * 5 + [1.5e-4, 1e-4, 0.5e-4])
