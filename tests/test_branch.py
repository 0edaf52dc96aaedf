"""The branch rules as tools, with real git in temporary repositories."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bookkeeping.branch import create, list_branches, promote
from bookkeeping.naming import (
    BranchError,
    Choice,
    branch_name,
    branch_warnings,
    check,
    choices,
    name_problems,
)
from tests.conftest import REPO
from tests.test_config import compose_config
from utils.base import UserError


def run_git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fresh repository on `main` with one commit."""
    run_git(tmp_path, "init", "-q", "-b", "main")
    run_git(tmp_path, "config", "user.email", "test@example.com")
    run_git(tmp_path, "config", "user.name", "Test")
    (tmp_path / "README.md").write_text("demo\n")
    run_git(tmp_path, "add", "README.md")
    run_git(tmp_path, "commit", "-qm", "start")
    return tmp_path


def branch_cli(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "bookkeeping.branch", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize(
    "overrides,options,name",
    [
        (["model=pix2pix", "data=drive", "data.augment=false"], [], "TEMP_PIX2PIX_DRIVE_NOAUG"),
        (["model=pix2pix", "data=drive", "data.augment=true"], [], "TEMP_PIX2PIX_DRIVE_AUG"),
        ([], ["--long-term"], "MAIN_UNET_SYNTHETIC_NOAUG"),
        (["experiment=drive_pix2pix"], [], "TEMP_PIX2PIX_DRIVE_NOAUG"),
        (
            ["model=pix2pix_paper"],
            ["--tag", "lr 2e-4", "--tag", "b8"],
            "TEMP_PIX2PIX-PAPER_SYNTHETIC_NOAUG_LR-2E-4_B8",
        ),
    ],
)
def test_new_derives_the_name_from_the_config(repo: Path, overrides, options, name) -> None:
    result = branch_cli(repo, "new", *overrides, *options)
    assert result.returncode == 0, result.stderr
    assert run_git(repo, "branch", "--show-current").stdout.strip() == name
    assert name_problems(name) == []


def test_new_refuses_a_dirty_tree_and_an_existing_branch(repo: Path) -> None:
    (repo / "README.md").write_text("changed\n")
    result = branch_cli(repo, "new", "model=unet")
    assert result.returncode == 1 and "uncommitted changes" in result.stderr
    assert run_git(repo, "branch", "--show-current").stdout.strip() == "main"
    run_git(repo, "checkout", "README.md")
    create("TEMP_UNET_SYNTHETIC_NOAUG", cwd=repo)
    run_git(repo, "switch", "-q", "main")
    with pytest.raises(BranchError, match="already exists"):
        create("TEMP_UNET_SYNTHETIC_NOAUG", cwd=repo)


@pytest.mark.parametrize(
    "name,problem",
    [
        ("EXP_UNET_DRIVE", "must start with TEMP_"),
        ("temp_unet_drive", "must be upper case"),
        ("TEMP_UNET", "at least the model and the dataset"),
        ("TEMP_UNET_DRIVE_LR=1", "may hold only A-Z, 0-9"),
        ("TEMP_UNET_DRIVE..X", "git refuses it"),
    ],
)
def test_check_explains_what_is_wrong(name: str, problem: str) -> None:
    with pytest.raises(BranchError, match=problem):
        check(name)


def test_main_and_good_names_pass() -> None:
    for name in ("main", "TEMP_PIX2PIX_DRIVE_NOAUG", "MAIN_PIX2PIX_MESSIDOR_AUG"):
        check(name)
    augment = [Choice("data.augment", "aug", ("aug", "noaug"))]
    assert branch_name("unet", "drive", augment, ("lr1e-3",)) == "TEMP_UNET_DRIVE_AUG_LR1E-3"
    assert branch_name("cnn", "shapes", long_term=True) == "MAIN_CNN_SHAPES"


def test_a_task_names_its_choices_with_words_of_its_own() -> None:
    parts = {"data.augment": {True: "aug", False: "noaug"}, "data.fold": None}
    values = {"data.augment": False, "data.fold": 3}
    assert choices(parts, values.get) == [
        Choice("data.augment", "noaug", ("aug", "noaug")),
        Choice("data.fold", "3", ()),
    ]
    with pytest.raises(UserError, match=r"data.augment='maybe': the task names its runs by"):
        choices(parts, {"data.augment": "maybe"}.get)


def test_hook_refuses_commits_on_a_badly_named_branch(repo: Path) -> None:
    shutil.copytree(REPO / ".githooks", repo / ".githooks")
    shutil.copytree(REPO / "bookkeeping", repo / "bookkeeping")
    (repo / "utils").mkdir()
    for name in ("__init__.py", "base.py"):
        shutil.copy(REPO / "utils" / name, repo / "utils" / name)
    run_git(repo, "config", "core.hooksPath", ".githooks")
    run_git(repo, "add", ".")
    assert run_git(repo, "commit", "-qm", "tools on main").returncode == 0
    run_git(repo, "switch", "-q", "-c", "my-experiment")
    (repo / "notes.txt").write_text("x\n")
    run_git(repo, "add", "notes.txt")
    refused = run_git(repo, "commit", "-qm", "on a bad branch")
    assert refused.returncode != 0 and "must start with TEMP_" in refused.stderr
    run_git(repo, "branch", "-m", "TEMP_UNET_DRIVE_NOAUG")
    assert run_git(repo, "commit", "-qm", "on a good branch").returncode == 0


def test_promote_renames_branch_and_experiment_record(repo: Path) -> None:
    create("TEMP_UNET_DRIVE_NOAUG", cwd=repo)
    record = repo / "experiment/TEMP_UNET_DRIVE_NOAUG"
    (record / "result").mkdir(parents=True)
    params = {
        "exp_name": "TEMP_UNET_DRIVE_NOAUG",
        "paths": {"experiment_root": "experiment"},
        "note": "TEMP_UNET_DRIVE_NOAUG was the first try",  # not a path: left alone
        "callbacks": {"last": {"path": "experiment/TEMP_UNET_DRIVE_NOAUG/model/last.ckpt"}},
    }
    (record / "params.yaml").write_text(yaml.safe_dump(params))
    assert promote("TEMP_UNET_DRIVE_NOAUG", cwd=repo) == "MAIN_UNET_DRIVE_NOAUG"
    assert run_git(repo, "branch", "--show-current").stdout.strip() == "MAIN_UNET_DRIVE_NOAUG"
    promoted = repo / "experiment/MAIN_UNET_DRIVE_NOAUG/params.yaml"
    assert yaml.safe_load(promoted.read_text()) == {
        "exp_name": "MAIN_UNET_DRIVE_NOAUG",
        "paths": {"experiment_root": "experiment"},
        "note": "TEMP_UNET_DRIVE_NOAUG was the first try",
        "callbacks": {"last": {"path": "experiment/MAIN_UNET_DRIVE_NOAUG/model/last.ckpt"}},
    }
    assert not record.exists()
    with pytest.raises(BranchError, match="only TEMP_ branches"):
        promote("MAIN_UNET_DRIVE_NOAUG", cwd=repo)


def test_list_shows_branches_with_their_scores(repo: Path) -> None:
    for name in ("TEMP_UNET_DRIVE_NOAUG", "MAIN_PIX2PIX_DRIVE_AUG"):
        create(name, cwd=repo)
        run_git(repo, "switch", "-q", "main")
    folder = repo / "experiment/TEMP_UNET_DRIVE_NOAUG"
    (folder / "result").mkdir(parents=True)
    task = yaml.safe_load((REPO / "conf/task/vessels.yaml").read_text())
    (folder / "params.yaml").write_text(yaml.safe_dump({"task": task}, sort_keys=False))
    (folder / "result/metrics.json").write_text('{"f1": 0.8123, "auroc": 0.97}')
    table = list_branches(cwd=repo).splitlines()
    assert len(table) == 3 and "main" not in "".join(table[1:]).split()
    unet = next(line for line in table if line.startswith("TEMP_UNET"))
    assert "F1 0.8123, AUC 0.9700" in unet and "start" in unet, "the task's test scores"
    pix2pix = next(line for line in table if line.startswith("MAIN_PIX2PIX"))
    assert pix2pix.split()[2] == "-", "no scores recorded for this branch"


def test_experiment_branch_names_the_run(repo, monkeypatch) -> None:
    monkeypatch.chdir(repo)
    create("TEMP_PIX2PIX_DRIVE_NOAUG", cwd=repo)
    cfg = compose_config(["model=pix2pix", "data=drive"])
    assert cfg.exp_name == "TEMP_PIX2PIX_DRIVE_NOAUG"
    assert compose_config(["model=pix2pix", "exp_name=mine"]).exp_name == "mine"


def test_mismatch_between_branch_and_config_is_warned(repo, monkeypatch) -> None:
    monkeypatch.chdir(repo)
    create("TEMP_PIX2PIX_DRIVE_NOAUG", cwd=repo)
    augment = [Choice("data.augment", "aug", ("aug", "noaug"))]
    warnings = branch_warnings("unet", "synthetic", augment)
    assert len(warnings) == 3 and "model PIX2PIX, the config trains unet" in warnings[0]
    assert "says NOAUG, the config's data.augment gives aug" in warnings[2]
    no_augment = [Choice("data.augment", "noaug", ("aug", "noaug"))]
    assert branch_warnings("pix2pix", "drive", no_augment) == []
    assert branch_warnings("pix2pix", "drive") == [], "a task without choices: nothing to compare"
    run_git(repo, "switch", "-q", "main")
    assert branch_warnings("unet", "synthetic", augment) == []
