"""Shared fixtures: a small synthetic dataset and a way to run the real command line."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from data.prepare import prepare
from data.synthetic import generate

REPO = Path(__file__).resolve().parents[1]


def make_dataset(root: Path, n_train: int = 6, n_test: int = 2, val_count: int = 2) -> Path:
    """Generate a small synthetic dataset in DRIVE's layout and write its manifests."""
    generate(root, seed=0, n_train=n_train, n_test=n_test)
    prepare(root, "synthetic", val_count=val_count)
    return root


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only small dataset shared by the whole session: copy it before changing files."""
    return make_dataset(tmp_path_factory.mktemp("synthetic"))


def run_script(
    script: str, *overrides: str, cwd: Path, python_flags: Sequence[str] = ()
) -> subprocess.CompletedProcess:
    """Run train.py or test.py of this repository as a user would, from `cwd`."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, *python_flags, str(REPO / script), *overrides]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
