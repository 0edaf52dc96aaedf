"""The command line stays fast: `--help` and `--cfg job` never import torch or lightning."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_script


@pytest.mark.parametrize(
    "script,args",
    [
        ("train.py", ["--help"]),
        ("train.py", ["--cfg", "job"]),
        ("test.py", ["--help"]),
        ("predict.py", ["--help"]),
    ],
)
def test_command_line_answers_without_torch(tmp_path: Path, script: str, args: list[str]) -> None:
    result = run_script(script, *args, cwd=tmp_path, python_flags=["-X", "importtime"])
    assert result.returncode == 0, result.stderr
    imported = {
        line.split("|")[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "hydra" in imported
    assert not {"torch", "lightning"} & imported


def test_unknown_config_options_are_named(tmp_path: Path) -> None:
    result = run_script("train.py", "model=resnet", cwd=tmp_path)
    assert result.returncode != 0
    assert "Could not find 'model/resnet'" in result.stderr
    options = ["pix2pix", "pix2pix_paper", "pix2pix_synthesis", "unet"]
    assert "Available options in 'model':\n\t" + "\n\t".join(options) in result.stderr
    result = run_script("train.py", "trainer.max_epoch=3", cwd=tmp_path)
    assert result.returncode != 0 and "max_epoch" in result.stderr
