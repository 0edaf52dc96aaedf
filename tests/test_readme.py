"""The README cannot rot: every command of its fenced bash blocks, and of its lifecycle table, is
run here as written, in a fresh fork of the repository, with training cut to a few batches. The few
that cannot run here are listed in COVERED_ELSEWHERE with the reason and the test that covers them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, cli_env, copy_repository

pytestmark = pytest.mark.slow

# Appended to every training and test command (the last value of a key wins in Hydra): the
# commands are checked here, not the models.
SHRINK_TRAIN = "trainer.max_epochs=1 trainer.limit_train_batches=2 trainer.limit_val_batches=1"
SHRINK_TEST = "trainer.limit_test_batches=2"
COVERED_ELSEWHERE = {
    "make test": "the suite itself: .ci/run runs it on every CI stop",
    "make repro": "dvc repro; tests/test_pipeline.py runs it in a fork",
    "dvc ": "tests/test_pipeline.py runs the DVC workflow in a fork (repro, exp run, queue, "
    "plots, add, push and pull)",
    "git add data/DRIVE": "part of the DVC flow for DRIVE: tests/test_pipeline.py",
    "sed -i": "part of the DVC flow for DRIVE: tests/test_pipeline.py",
    "source .venv/bin/activate": "these commands already run inside that environment",
    "wandb sync": "needs a W&B account and the internet; tests/test_tracking.py checks the "
    "offline run it would upload",
    "WANDB_API_KEY=": "needs a W&B account and the internet",
    "python train.py debug=overfit": "400 steps: tests/test_train_test.py runs it",
    "python train.py -m ": "tests/test_scale.py runs each sweep and launcher (Optuna, multirun, "
    "submitit)",
    "python train.py trainer=ddp_cpu": "tests/test_scale.py runs it and checks both processes",
    "python -m benchmarks.": "minutes each: tests/test_benchmarks.py runs each with --quick",
}


def readme_blocks() -> list[tuple[str, list[str]]]:
    """(name, commands) of each ```bash block and of the lifecycle table, in README order."""
    text = (REPO / "README.md").read_text()
    blocks = []
    for match in re.finditer(r"```bash\n(.*?)```", text, re.S):
        line = text[: match.start()].count("\n") + 1
        heading = re.findall(r"^#+ (.*)$", text[: match.start()], re.M)[-1]
        commands = [c for c in match.group(1).splitlines() if c.strip()]
        blocks.append((f"{heading} (line {line})", commands))
    lifecycle = text.split("## The lifecycle, command by command")[1].split("\n\n")[1]
    table = re.findall(r"`((?:python|make) [^`]*)`", lifecycle)
    blocks.append(("lifecycle table", table))
    return blocks


# Whole lifecycle-table commands that other tests already run as processes (matched exactly,
# so that the same command with more arguments in a bash block still runs there).
COVERED_EXACTLY = {
    "python train.py model=pix2pix": "tests/test_benchmarks.py::test_pix2pix_curves runs "
    "train.py model=pix2pix and test.py; the Configuration block trains model=pix2pix too",
    "python train.py model=pix2pix_paper": "tests/test_models.py builds and runs the paper's "
    "generator; tests/test_config.py composes the preset",
    "python train.py experiment=synthetic_quick": "tests/test_config.py composes every recipe; "
    "the training is the train.py every other row runs",
    "python predict.py exp_name=unet_synthetic_noaug input=data/synthetic/test/images": "the "
    "predict.py block runs it on a file, a glob and a folder",
}


def covered_elsewhere(command: str) -> bool:
    command = re.sub(r"\s+#\s.*$", "", command).strip()
    if command in COVERED_EXACTLY:
        return True
    return any(command.startswith(prefix) for prefix in COVERED_ELSEWHERE)


def as_run_here(command: str) -> str:
    """The command without its comment, with this environment's python, training cut short."""
    command = re.sub(r"\s+#\s.*$", "", command)
    if command.startswith("make train"):
        return f'{command} VENV={Path(sys.executable).parents[1]} ARGS="{SHRINK_TRAIN}"'
    command = re.sub(r"^python ", f"{sys.executable} ", command)
    if "resume=true" in command:  # resume may only change max_epochs: one epoch more
        command = re.sub(r"trainer\.max_epochs=\d+", "trainer.max_epochs=2", command)
    elif "repeat_of=" in command:  # repeats the recorded run, which was cut short already
        pass
    elif "train.py" in command:
        command += f" {SHRINK_TRAIN}"
    elif "test.py" in command:
        command += f" {SHRINK_TEST}"
    return command


@pytest.fixture(scope="module")
def drive_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset in DRIVE's unzipped layout, so the DRIVE commands run as written."""
    from data.synthetic import generate

    root = tmp_path_factory.mktemp("drive") / "DRIVE"
    generate(root, seed=1)
    return root


BLOCKS = readme_blocks()


@pytest.mark.parametrize(("name", "commands"), BLOCKS, ids=[name for name, _ in BLOCKS])
def test_readme_commands_run(name: str, commands: list[str], tmp_path: Path, drive_like: Path):
    repo = copy_repository(tmp_path / "fork")
    shutil.copytree(drive_like, repo / "data/DRIVE")
    env = cli_env(HOME=str(tmp_path / "home"), PYTHONUNBUFFERED="1")  # HOME: W&B's caches
    env.pop("PYTHONPATH", None)
    ran = 0
    for command in commands:
        if covered_elsewhere(command):
            continue
        done = subprocess.run(
            ["bash", "-c", as_run_here(command)],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, (
            f"README: {command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
        ran += 1
    assert ran or all(map(covered_elsewhere, commands)), f"{name}: no command found"
