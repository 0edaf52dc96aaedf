"""Shared fixtures: a small synthetic dataset and a way to run the real command line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from data.prepare import prepare
from data.synthetic import generate

REPO = Path(__file__).resolve().parents[1]
# Hydra loads plugins from the `hydra_plugins` package of every folder on the Python path. The
# suite's own hides a user's conf/local/default.yaml from every composition of conf/, here and in
# the scripts the tests run (see tests/suite_plugins/hydra_plugins/hide_local_settings.py).
SUITE_PLUGINS = REPO / "tests" / "suite_plugins"
sys.path.insert(0, str(SUITE_PLUGINS))


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (`make test` runs `-n auto`), share the cores among the workers: torch
    would otherwise give every worker, and every process it starts, a thread per core, and threads
    that outnumber the cores spin against each other (a fit then runs many times slower)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1 and "OMP_NUM_THREADS" not in os.environ:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        os.environ["OMP_NUM_THREADS"] = str(max(1, cores // workers))  # torch reads it on import


def make_dataset(
    root: Path, n_train: int = 6, n_test: int = 2, val_count: int = 2, camera: str = "drive"
) -> Path:
    """Generate a small synthetic dataset in DRIVE's layout and write its manifests."""
    generate(root, seed=0, n_train=n_train, n_test=n_test, camera=camera)
    prepare(root, "synthetic", val_count=val_count, camera=camera)
    return root


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only small dataset shared by the whole session: copy it before changing files."""
    return make_dataset(tmp_path_factory.mktemp("synthetic"))


def run_script(
    script: str,
    *overrides: str,
    cwd: Path,
    python_flags: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run train.py or test.py of this repository as a user would, from `cwd`.

    `env` adds variables to this process's environment.
    """
    command = [sys.executable, *python_flags, str(REPO / script), *overrides]
    return subprocess.run(
        command, cwd=cwd, env=script_env(env), capture_output=True, text=True, timeout=600
    )


def run_module(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run `python -m <module> <args>` of this repository (bookkeeping.report, ...) from `cwd`."""
    command = [sys.executable, "-m", module, *args]
    return subprocess.run(
        command, cwd=cwd, env=script_env(), capture_output=True, text=True, timeout=600
    )


def script_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment, unbuffered, with the repository importable from any directory (and the
    suite's Hydra plugin found)."""
    python_path = os.pathsep.join([str(REPO), str(SUITE_PLUGINS)])
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": python_path, **(extra or {})}


GIT_USER = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]


def copy_repository(destination: Path) -> Path:
    """This repository as a fresh clone would have it, in a new git repository on `main` with one
    commit: a fork to change freely in a test.

    Only files git tracks are copied (in their working-tree state, so uncommitted edits are
    tested): what a user generated or left behind (data, experiment records, caches) never
    reaches the fork, so the suite passes the same before and after the README's commands.
    """
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, destination / name)
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "fork"]):
        subprocess.run(
            ["git", *GIT_USER, *command], cwd=destination, check=True, capture_output=True
        )
    return destination


def cli_env(**extra: str) -> dict[str, str]:
    """This environment as a user's shell in a fork: this venv's python, dvc and tools first on
    PATH, and a git identity for commits."""
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
        **extra,
    }
