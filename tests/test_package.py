"""The project as an installable package: `pip install -e .` and a wheel that holds the layers,
with the pinned dependencies of requirements.txt and the licence in its metadata."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, copy_repository

pytestmark = pytest.mark.slow


def test_wheel_holds_the_layers_and_the_pins(tmp_path: Path) -> None:
    fork = copy_repository(tmp_path / "fork")  # the build writes build/ and *.egg-info/ there
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
        + ["--quiet", "--wheel-dir", str(tmp_path / "dist"), str(fork)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert top - {n for n in top if n.endswith(".dist-info")} == {
        "bookkeeping",
        "data",
        "src",
        "utils",
    }
    for module in (
        "bookkeeping/folder.py",
        "data/data.py",
        "src/pix2pix/model.py",
        "utils/loss.py",
    ):
        assert module in names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "train.py", "test.py"))]
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA")))
    lines = metadata.decode().splitlines()
    assert "License-Expression: MIT" in lines
    pins = [
        line.split("#")[0].strip()
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    assert pins and all(f"Requires-Dist: {pin}" in lines for pin in pins)
    assert any(line.startswith("Requires-Dist: pytest==") and "extra ==" in line for line in lines)
