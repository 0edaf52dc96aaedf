"""The DVC pipeline with real git and dvc, in a temporary copy of this repository.

The tests run in file order on one copy: repro, no-op, metrics, plots, push/pull, what a code
change reruns, experiments (one, then a queued sweep), the invalidation by a config change, and
last real-DRIVE-style data added with `dvc add` (the last two edit the copy).
"""

from __future__ import annotations

import filecmp
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import cli_env, copy_repository

pytestmark = pytest.mark.slow


def run(repo: Path, *command: str) -> subprocess.CompletedProcess:
    """Run a command in `repo` with this environment's python and dvc first on PATH."""
    done = subprocess.run(
        command, cwd=repo, env=cli_env(), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone-like copy with DVC initialised and the pipeline reproduced in debug=fast."""
    root = copy_repository(tmp_path_factory.mktemp("pipeline") / "repo")
    # debug=fast by default in conf/, so that params.yaml stays exactly as users have it.
    config = root / "conf/train.yaml"
    config.write_text(config.read_text().replace("  - debug: null", "  - debug: fast", 1))
    assert "  - debug: fast" in config.read_text()
    run(root, "git", "commit", "-qam", "debug=fast")
    run(root, "dvc", "repro")
    run(root, "git", "add", "-A")
    run(root, "git", "commit", "-qm", "reproduced")
    return root


def test_repro_runs_every_stage_and_records_metrics(repo: Path) -> None:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert set(lock["stages"]) == {"generate", "prepare", "check", "train", "test", "curves"}
    assert (repo / "data/synthetic/train.txt").is_file()
    assert json.loads((repo / "data/quality.json").read_text())["samples"]["validate"] == 4
    assert (repo / "experiment/pipeline/model/best.ckpt").is_file()
    metrics = json.loads(run(repo, "dvc", "metrics", "show", "--json").stdout)
    scores = next(iter(metrics.values()))["data"]["experiment/pipeline/result/metrics.json"]
    assert {"f1", "auroc", "sensitivity"} <= set(scores["data"])
    assert "Data and pipelines are up to date" in run(repo, "dvc", "repro").stdout


def test_plots_page_includes_the_offline_curves(repo: Path) -> None:
    svg = (repo / "experiment/pipeline/log/curves.svg").read_text()
    assert svg.count("<polyline") == 3  # train/loss, val/f1, val/auroc
    run(repo, "dvc", "plots", "show")
    page = (repo / "dvc_plots/index.html").read_text()
    assert "curves.svg" in page and "val/f1" in page


def test_push_then_pull_restores_data_and_model(repo: Path, tmp_path: Path) -> None:
    run(repo, "dvc", "remote", "add", "-d", "local", str(tmp_path / "remote"))
    run(repo, "git", "commit", "-qam", "remote")
    run(repo, "dvc", "push")
    clone = tmp_path / "clone"
    run(tmp_path, "git", "clone", "-q", str(repo), str(clone))
    assert not (clone / "data/synthetic").exists()
    run(clone, "dvc", "pull")
    for path in (
        "data/synthetic/training/images/21_training.tif",
        "data/synthetic/test.txt",
        "experiment/pipeline/model/best.ckpt",
    ):
        assert filecmp.cmp(repo / path, clone / path, shallow=False), path


def test_code_changes_rerun_only_the_stages_that_import_them(repo: Path) -> None:
    report = repo / "bookkeeping/report.py"
    report.write_text(report.read_text() + "\n# a new column, some day\n")
    assert "Data and pipelines are up to date" in run(repo, "dvc", "status").stdout
    loss = repo / "utils/loss.py"
    loss.write_text(loss.read_text() + "\n# a tweak of the loss\n")
    status = run(repo, "dvc", "status").stdout
    assert "train:" in status and "test:" in status and "check:" not in status
    run(repo, "git", "checkout", "-q", "--", "bookkeeping/report.py", "utils/loss.py")
    assert "Data and pipelines are up to date" in run(repo, "dvc", "status").stdout


def test_experiment_with_another_model(repo: Path) -> None:
    run(repo, "dvc", "exp", "run", "-S", "model=pix2pix")
    table = json.loads(run(repo, "dvc", "exp", "show", "--json").stdout)
    runs = [exp for commit in table for exp in (commit.get("experiments") or [])]
    models = [r["revs"][0]["data"]["params"]["params.yaml"]["data"]["model"] for r in runs]
    assert "pix2pix" in models
    run(repo, "git", "checkout", "-q", "--", "params.yaml")


def test_queued_sweep_runs_both_models(repo: Path) -> None:
    run(repo, "dvc", "exp", "run", "--queue", "-S", "model=unet,pix2pix")
    run(repo, "dvc", "queue", "start")
    deadline = time.monotonic() + 540
    while time.monotonic() < deadline:
        status = run(repo, "dvc", "queue", "status").stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(2)
    assert status.count("Success") == 2, status
    table = json.loads(run(repo, "dvc", "exp", "show", "--json").stdout)
    runs = [exp for commit in table for exp in (commit.get("experiments") or [])]
    scored = {
        r["revs"][0]["data"]["params"]["params.yaml"]["data"]["model"]
        for r in runs
        if r["revs"][0]["data"].get("metrics", {}).get("experiment/pipeline/result/metrics.json")
    }
    assert {"unet", "pix2pix"} <= scored


def test_config_change_reruns_train_and_test_only(repo: Path) -> None:
    unet = repo / "conf/model/unet.yaml"
    unet.write_text(unet.read_text().replace("base_channels: 16", "base_channels: 8"))
    status = run(repo, "dvc", "status").stdout
    assert "train:" in status and "prepare:" not in status and "check:" not in status
    output = run(repo, "dvc", "repro").stdout
    assert "Running stage 'train'" in output and "Running stage 'test'" in output
    assert "Running stage 'prepare'" not in output
    params = yaml.safe_load((repo / "experiment/pipeline/params.yaml").read_text())
    assert params["model"]["net"]["base_channels"] == 8


def test_dvc_added_drive_runs_through_the_pipeline(repo: Path) -> None:
    """The README's flow for real data: unzip, `dvc add` the raw folders, point params at it."""
    run(repo, sys.executable, "-m", "data.synthetic", "--root", "data/DRIVE")  # DRIVE's layout
    run(repo, "dvc", "add", "data/DRIVE/training", "data/DRIVE/test")
    run(repo, "git", "add", "data/DRIVE/training.dvc", "data/DRIVE/test.dvc")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params.update(data="drive", data_root="data/DRIVE")
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    output = run(repo, "dvc", "repro").stdout
    assert "Running stage 'generate'" not in output and "Running stage 'check'" in output
    assert (repo / "data/DRIVE/validate.txt").is_file()
    resolved = yaml.safe_load((repo / "experiment/pipeline/params.yaml").read_text())
    assert (resolved["data"]["name"], resolved["data"]["root"]) == ("drive", "data/DRIVE")
    assert "up to date" in run(repo, "dvc", "status", "data/DRIVE/training.dvc").stdout
