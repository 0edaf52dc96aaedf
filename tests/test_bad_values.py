"""A mistake costs nothing: bad config values, a user's own data folder, two runs of one name.

Each bad value is tried through the real command line, as a user types it: the run must stop
with exit status 1, one `error: ...` line naming the key, no traceback, and no experiment folder,
so that the corrected command then runs under the same name without overwrite=true.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, copy_repository, run_script, script_env

pytestmark = pytest.mark.slow
SHORT = (
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=1",
    "trainer.limit_val_batches=1",
    "model.net.base_channels=4",
    "callbacks.progress_bar=null",
    "+trainer.enable_progress_bar=false",
    "logger=csv",
)
# (the bad overrides, what the message must name)
# One refused as its object is built, one found only when the splits are read: both before the
# folder is claimed. More values of every group, built in one process: tests/test_config.py; an
# option of a config group that does not exist stops Hydra first: tests/test_bad_input.py.
BAD_VALUES = [
    (["data.batch_size=0"], "data.batch_size=0"),
    (["data.folds=99"], "data.folds=99"),
]


def test_a_bad_value_leaves_nothing_and_the_name_stays_free(tmp_path: Path, dataset: Path):
    data = f"data.root={dataset}"
    for bad, named in BAD_VALUES:
        shown = " ".join(bad)
        done = run_script("train.py", "exp_name=typo", data, *SHORT, *bad, cwd=tmp_path)
        assert done.returncode == 1, f"{shown}: exit {done.returncode}\n{done.stderr[-2000:]}"
        assert "Traceback" not in done.stderr + done.stdout, f"{shown}:\n{done.stderr}"
        assert named in done.stderr, f"{shown}: the message names {named!r}:\n{done.stderr}"
        assert not (tmp_path / "experiment/typo").exists(), f"{shown} left a folder behind"
    fixed = run_script("train.py", "exp_name=typo", data, *SHORT, cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    assert (tmp_path / "experiment/typo/model/last.ckpt").is_file()


def test_a_tool_with_a_bad_argument_says_so_in_one_line(tmp_path: Path) -> None:
    for module, *args in (
        ("data.prepare", "drive", "--root", str(tmp_path / "nowhere")),
        ("data.check", str(tmp_path / "nowhere")),
        ("bookkeeping.curves", str(tmp_path / "metrics.csv"), str(tmp_path / "out.svg")),
        ("bookkeeping.branch", "check", "feature/x"),
        ("bookkeeping.branch", "new", "model=resnet"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=tmp_path,
            env=script_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 1, f"{module} {args}: {done.returncode}\n{done.stderr}"
        assert done.stderr.startswith("error: "), f"{module}: {done.stderr}"
        assert "Traceback" not in done.stderr, f"{module}: {done.stderr}"


def test_a_dataset_config_that_inherits_the_generator_never_touches_the_users_files(
    tmp_path: Path, dataset: Path
) -> None:
    """The README's own-dataset recipe with its one line forgotten: the config inherits
    `synthetic` (so data.source=synthetic) and points at the user's own folder."""
    from tests.test_data import snapshot, users_own_folder

    repo = copy_repository(tmp_path / "fork")
    (repo / "conf/data/clinic.yaml").write_text(
        "defaults:\n  - synthetic\n  - _self_\nname: clinic\nroot: ${paths.data_dir}/clinic\n"
    )
    users_own_folder(dataset, repo / "data/clinic")
    before = snapshot(repo / "data/clinic")
    done = subprocess.run(
        [sys.executable, "train.py", "data=clinic", "debug=fast"],
        cwd=repo,
        env=script_env({"PYTHONPATH": str(repo)}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr[-3000:]
    assert "data/clinic" in done.stderr and "data.source=null" in done.stderr, done.stderr
    assert snapshot(repo / "data/clinic") == before, "every file of the user's folder is intact"
    assert not (repo / "experiment").exists() or not any((repo / "experiment").iterdir())


CLAIM = textwrap.dedent(
    """
    import os, sys, time
    from bookkeeping.folder import ExperimentFolder
    from utils.base import UserError
    folder, start = ExperimentFolder("experiment", "same"), float(sys.argv[1])
    time.sleep(max(0.0, start - time.time()))
    try:
        with folder.locked():
            folder.create("exp_name: same\\n", overwrite=True)
            mine = folder.model_dir / f"{os.getpid()}.ckpt"
            mine.write_text("weights")
            time.sleep(0.4)  # training
            if not mine.is_file():
                sys.exit("deleted: another run removed this run's files")
    except UserError as error:
        sys.exit(f"error: {error}")
    """
)


def test_two_runs_with_one_name_and_overwrite_never_delete_each_other(tmp_path: Path) -> None:
    """Twenty pairs of real processes claiming one name with overwrite=true at the same instant:
    one runs, the other stops with a message; neither finds its files deleted."""
    script = tmp_path / "claim.py"
    script.write_text(CLAIM)
    refused = 0
    for _ in range(20):
        start = f"{time.time() + 0.5:.3f}"
        pair = [
            subprocess.Popen(
                [sys.executable, str(script), start],
                cwd=tmp_path,
                env=script_env(),
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outcomes = [(p.wait(timeout=60), p.stderr.read()) for p in pair]
        for code, said in outcomes:
            assert "deleted" not in said, said
            assert code == 0 or "is in use by a run that has not ended" in said, said
        assert any(code == 0 for code, _ in outcomes), outcomes
        refused += sum(code != 0 for code, _ in outcomes)
    assert refused >= 10, f"the runs hardly overlapped ({refused} refusals in 20 pairs)"


def test_two_trainings_with_one_name_started_together(tmp_path: Path, dataset: Path) -> None:
    """The same race with train.py itself: one trains, the other stops with the message."""
    shutil.copytree(dataset, tmp_path / "data")
    command = [
        sys.executable,
        str(REPO / "train.py"),
        "exp_name=same",
        "overwrite=true",
        f"data.root={tmp_path / 'data'}",
        *SHORT,
        "trainer.limit_train_batches=5",
    ]
    pair = [
        subprocess.Popen(command, cwd=tmp_path, env=script_env(), stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outcomes = sorted((p.wait(timeout=300), p.stderr.read()) for p in pair)
    assert outcomes[0][0] == 0, outcomes[0][1][-3000:]
    # The second either waited for nothing (the first had ended: it trained too) or was refused.
    assert outcomes[1][0] == 0 or "in use by a run" in outcomes[1][1], outcomes[1][1][-3000:]
    assert (tmp_path / "experiment/same/model/last.ckpt").is_file()
