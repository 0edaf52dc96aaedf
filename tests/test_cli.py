"""The command line stays fast: `--help` and `--cfg job` never import torch or lightning."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_script


@pytest.mark.parametrize(
    "script,args",
    [("train.py", ["--help"]), ("train.py", ["--cfg", "job"]), ("test.py", ["--help"])],
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
