"""The run record and the experiment report, without training: redaction, git state, data hash."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bookkeeping.folder import ExperimentFolder
from bookkeeping.record import data_version, git_state, recorded_session, redact, redact_argument
from bookkeeping.report import compare, flatten, listing, summary
from tests.conftest import REPO

VESSELS = yaml.safe_load((REPO / "conf/task/vessels.yaml").read_text())


def test_secret_named_keys_and_arguments_are_redacted() -> None:
    config = {"logger": {"wandb": {"api_key": "k", "project": "p"}}, "items": [{"token": "t"}]}
    assert redact(config) == {
        "logger": {"wandb": {"api_key": "<redacted>", "project": "p"}},
        "items": [{"token": "<redacted>"}],
    }
    assert redact_argument("+db.PASSWORD=hunter2") == "+db.PASSWORD=<redacted>"
    assert redact_argument("model=pix2pix") == "model=pix2pix"


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def test_git_state_saves_uncommitted_changes_as_a_patch(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "TEMP_UNET_SYNTHETIC_NOAUG")
    (repo / "model.py").write_text("width = 16\n")
    git(repo, "add", "model.py")
    git(repo, "commit", "-qm", "start")
    clean = git_state(tmp_path / "clean.patch", repo)
    assert clean["dirty"] is False and clean["patch"] is None and len(clean["commit"]) == 40
    assert clean["branch"] == "TEMP_UNET_SYNTHETIC_NOAUG"

    (repo / "model.py").write_text("width = 32\n")
    (repo / "new.py").write_text("")
    dirty = git_state(tmp_path / "dirty.patch", repo)
    assert dirty["dirty"] is True and dirty["untracked"] == ["new.py"]
    assert "+width = 32" in (tmp_path / "dirty.patch").read_text()
    assert git_state(tmp_path / "none.patch", tmp_path / "nowhere")["commit"] is None


def test_data_version_changes_with_any_file(tmp_path: Path, dataset: Path) -> None:
    copy = shutil.copytree(dataset, tmp_path / "data")
    before = data_version(copy)
    every_file = [path for path in copy.rglob("*") if path.is_file()]
    assert before["files"] == len(every_file) > 8 * 3 and data_version(copy) == before
    label = next((copy / "training/1st_manual").iterdir())
    label.write_bytes(label.read_bytes()[:-1] + b"\x00")
    assert data_version(copy)["sha256"] != before["sha256"]


def test_session_status_on_success_failure_and_interruption(tmp_path: Path, dataset: Path) -> None:
    folder = ExperimentFolder(tmp_path, "run")
    folder.create("seed: 1\n")
    overrides = ["seed=1", "+wandb.api_key=abc"]

    def session(resumed: bool):
        return recorded_session(folder, dataset, overrides, "id123", resumed=resumed)

    with session(resumed=False) as first:
        first["metrics"] = {"val/f1": 0.5}
    with pytest.raises(ValueError), session(resumed=True):
        raise ValueError("a bug")
    with pytest.raises(SystemExit) as stopped, session(resumed=True):
        raise SystemExit  # what Lightning raises after SIGTERM
    assert stopped.value.code == 143
    record = yaml.safe_load(folder.record.read_text())
    assert record["overrides"] == ["seed=1", "+wandb.api_key=<redacted>"]
    assert record["run_id"] == "id123"
    assert [s["status"] for s in record["sessions"]] == ["finished", "failed", "interrupted"]
    assert record["sessions"][0]["metrics"] == {"val/f1": 0.5}
    assert record["wall_time_s"] == pytest.approx(sum(s["wall_time_s"] for s in record["sessions"]))
    assert "WANDB" not in folder.record.read_text()


def test_report_summary_and_comparison(tmp_path: Path) -> None:
    folders = {}
    for name, seed, f1 in (("a", 1, 0.7), ("b", 2, 0.8)):
        folder = folders[name] = ExperimentFolder(tmp_path, name)
        params = {
            "exp_name": name,
            "seed": seed,
            "paths": {"experiment_root": str(tmp_path)},
            "model": {"name": "unet"},
            "data": {"name": "synthetic", "augment": False},
            "task": VESSELS,
            "trainer": {"max_epochs": 3},
            "callbacks": {"ckpt": {"dirpath": str(folder.model_dir)}},
        }
        folder.create(yaml.safe_dump(params, sort_keys=False))
        folder.metrics.write_text(json.dumps({"f1": f1, "auroc": 0.9}))
    row = summary(folders["a"])
    assert (row["model"], row["epochs"], row["test F1"], row["status"]) == ("unet", 3, 0.7, "?")
    assert (row["task"], row["choices"]) == ("vessels", "noaug"), "the task's columns and parts"
    table = compare(folders["a"], folders["b"])
    differing = table.split("\n\n")[0]
    assert "seed" in differing and "callbacks" not in differing and "exp_name" not in differing
    assert flatten({"a": {"b": 1}, "c": [1]}) == {"a.b": 1, "c": [1]}


def write_experiment(root: Path, name: str, seed: int, f1: float, lr: float) -> ExperimentFolder:
    """An experiment folder as train.py and test.py leave it, for the report to read."""
    folder = ExperimentFolder(root, name)
    params = {
        "exp_name": name,
        "seed": seed,
        "paths": {"experiment_root": str(root)},
        "model": {"name": "unet", "optimizer": {"lr": lr}},
        "data": {"name": "synthetic", "augment": False},
        "task": VESSELS,
        "callbacks": {"ckpt": {"dirpath": str(folder.model_dir)}},
    }
    folder.create(yaml.safe_dump(params, sort_keys=False))
    folder.metrics.write_text(json.dumps({"f1": f1, "auroc": 0.9}))
    return folder


def test_report_groups_seeds_and_says_whether_a_difference_exceeds_the_spread(
    tmp_path: Path,
) -> None:
    for seed, (low, high, close) in enumerate([(0.60, 0.80, 0.61), (0.62, 0.81, 0.59)] * 2):
        write_experiment(tmp_path, f"low_seed-{seed}", seed, low, 1e-4)
        write_experiment(tmp_path, f"high_seed-{seed}", seed, high, 1e-3)
        write_experiment(tmp_path, f"close_seed-{seed}", seed, close, 3e-4)
    write_experiment(tmp_path, "single", 0, 0.7, 2e-3)
    text = listing(tmp_path)
    grouped = text.split("mean +- std:\n")[1].splitlines()
    assert len(grouped) == 4, text  # a header and three groups; `single` is no group
    [low] = [line for line in grouped if line.startswith("low_seed-* (4)")]
    assert "0.6100 +- 0.0115" in low and " 4 " in low, low

    def verdict(a: str, b: str) -> str:
        return compare(ExperimentFolder(tmp_path, a), ExperimentFolder(tmp_path, b))

    assert "larger than the spread" in verdict("low_seed-0", "high_seed-2")
    assert "within the spread" in verdict("low_seed-0", "close_seed-1")
    assert "no verdict: needs 2+ runs" in verdict("single", "low_seed-1")
    assert "Both are runs of one configuration (4 runs)" in verdict("low_seed-0", "low_seed-3")


def test_report_shows_trained_on_by_tested_on_with_spreads(tmp_path: Path) -> None:
    """Two seeds tested at home and on another dataset make one row of the matrix; an experiment
    tested only at home makes none."""
    for seed, (home, other) in enumerate([(0.80, 0.60), (0.78, 0.70)]):
        folder = write_experiment(tmp_path, f"unet_seed-{seed}", seed, home, 1e-3)
        elsewhere = folder.on("other_camera")
        elsewhere.test_dir.mkdir(parents=True)
        elsewhere.metrics.write_text(json.dumps({"f1": other, "auroc": 0.95}))
        assert folder.tested_elsewhere() == {"other_camera": elsewhere.metrics}
    write_experiment(tmp_path, "home_only", 0, 0.5, 3e-3)
    text = listing(tmp_path).split("tested on others (test.py data=<other>), mean +- std:\n")[1]
    header, row, *rest = text.splitlines()
    assert not rest, text
    assert header.split()[:7] == [
        "experiments",
        "n",
        "trained",
        "on",
        "synthetic:",
        "F1",
        "synthetic:",
    ]
    assert "other_camera: F1" in header and row.startswith("unet_seed-* (2)")
    assert "0.7900 +- 0.0141" in row and "0.6500 +- 0.0707" in row, row


def test_report_puts_experiments_of_two_tasks_in_one_table(tmp_path: Path) -> None:
    """Each experiment fills the score columns of its own task: nothing in the report names F1."""
    write_experiment(tmp_path, "vessels", 0, 0.8, 1e-3)
    folder = ExperimentFolder(tmp_path, "shapes")
    task = {"name": "shapes", "scores": {"val accuracy": "val/acc", "test accuracy": "acc"}}
    params = {"exp_name": "shapes", "model": {"name": "cnn"}, "data": {"name": "toy"}, "task": task}
    folder.create(yaml.safe_dump(params, sort_keys=False))
    folder.metrics.write_text(json.dumps({"acc": 0.625}))
    header, *rows = listing(tmp_path).splitlines()
    columns = header.split("  ")
    assert "test accuracy" in header and "test F1" in header, header
    shapes = next(row for row in rows if row.startswith("shapes"))
    vessels = next(row for row in rows if row.startswith("vessels"))
    assert "0.6250" in shapes and "0.8000" not in shapes and "0.8000" in vessels
    start = header.index("test accuracy")
    assert vessels[start : start + 1] == "-", (columns, vessels)


def test_data_version_changes_with_the_split_and_a_new_file(tmp_path: Path, dataset: Path) -> None:
    copy = shutil.copytree(dataset, tmp_path / "data")
    before = data_version(copy)["sha256"]
    (copy / "test.txt").write_text((copy / "test.txt").read_text() + "\n")
    changed_split = data_version(copy)["sha256"]
    (copy / "notes.md").write_text("a new file")
    assert len({before, changed_split, data_version(copy)["sha256"]}) == 3
