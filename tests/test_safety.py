"""What a mistyped name or a repeated sweep must never do, through the real command line.

Each bad name runs `train.py ... overwrite=true` in a fork of the repository; every file of the
fork, .git included, is hashed before and after. Sweeps over keys that do not change the default
name (seed, learning rate) must give each job its own folder, and a repeated sweep must neither
collide nor overwrite silently.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import copy_repository, run_module, run_script
from tests.readme import readme_command
from tests.test_folder import tree_digest

pytestmark = pytest.mark.slow
QUIET = ("callbacks.progress_bar=null", "+trainer.enable_progress_bar=false")


@pytest.fixture(scope="module")
def fork(tmp_path_factory: pytest.TempPathFactory, dataset: Path) -> Path:
    """A fork with one finished experiment and a folder outside the project, shared: every test
    checks that it leaves the whole tree unchanged."""
    tmp_path = tmp_path_factory.mktemp("safety")
    repo = copy_repository(tmp_path / "fork")
    done = run_script(
        "train.py", "debug=fast", f"data.root={dataset}", "exp_name=kept", *QUIET, cwd=repo
    )
    assert done.returncode == 0, done.stderr
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside/precious.txt").write_text("keep me\n")
    (repo / "experiment/link").symlink_to(tmp_path / "outside")
    return repo


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("..", "not a valid experiment name"),
        (".", "not a valid experiment name"),
        ("''", "not a valid experiment name"),
        ("/tmp", "not a valid experiment name"),
        ("kept/..", "not a valid experiment name"),
        ("'has space'", "not a valid experiment name"),
        ("link", "symbolic link"),
    ],
)
def test_overwrite_with_a_bad_name_deletes_nothing(
    fork: Path, dataset: Path, name: str, message: str
) -> None:
    before = tree_digest(fork.parent)
    result = run_script(
        "train.py", f"exp_name={name}", "overwrite=true", f"data.root={dataset}", cwd=fork
    )
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert tree_digest(fork.parent) == before


def sweep(tmp_path: Path, command: list[str], dataset: Path, *overrides: str):
    """The README's sweep `command` (its words after `python`), on the small dataset."""
    return run_script(*command, f"data.root={dataset}", *QUIET, *overrides, cwd=tmp_path)


def test_a_seed_sweep_gives_each_job_a_folder_and_a_repeat_is_refused(
    tmp_path: Path, dataset: Path
) -> None:
    seeds = readme_command("python train.py -m seed=1,2,3 debug=fast")[1:]
    first = sweep(tmp_path, seeds, dataset, "overwrite=false")
    assert first.returncode == 0, first.stderr
    jobs = [tmp_path / f"experiment/unet_synthetic_debug_fast_seed-{s}" for s in (1, 2, 3)]
    assert [yaml.safe_load((job / "params.yaml").read_text())["seed"] for job in jobs] == [1, 2, 3]
    report = run_module("bookkeeping.report", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    grouped = report.stdout.split("mean +- std:\n")[1].splitlines()[1:]
    assert len(grouped) == 1 and grouped[0].startswith("unet_synthetic_debug_fast_seed-* (3)  3 ")
    assert " +- " in grouped[0], report.stdout  # each score over the three seeds

    def experiments() -> dict[str, str]:  # a sweep also writes experiment/multirun/<time>/
        digest = tree_digest(tmp_path / "experiment")
        return {path: sha for path, sha in digest.items() if not path.startswith("multirun/")}

    before = experiments()
    again = sweep(tmp_path, seeds, dataset, "overwrite=false")
    assert (
        again.returncode == 1 and "unet_synthetic_debug_fast_seed-1 already exists" in again.stderr
    )
    assert "overwrite=true" in again.stderr and "Traceback" not in again.stderr
    assert experiments() == before


def test_a_learning_rate_sweep_gives_each_job_a_folder(tmp_path: Path, dataset: Path) -> None:
    command = readme_command("python train.py -m model.optimizer.lr=1e-3,3e-4 debug=fast")
    result = sweep(tmp_path, command[1:], dataset)
    assert result.returncode == 0, result.stderr
    for lr in ("0.001", "0.0003"):
        params = (
            tmp_path / f"experiment/unet_synthetic_debug_fast_model.optimizer.lr-{lr}/params.yaml"
        )
        assert yaml.safe_load(params.read_text())["model"]["optimizer"]["lr"] == float(lr)


def test_a_fold_sweep_validates_on_each_fold_and_the_report_groups_it(
    tmp_path: Path, dataset: Path
) -> None:
    command = readme_command("python train.py -m data.folds=3 data.fold=0,1,2 debug=fast")
    result = sweep(tmp_path, command[1:], dataset)
    assert result.returncode == 0, result.stderr
    for fold in (0, 1, 2):
        name = f"unet_synthetic_debug_fast_data.fold-{fold}_data.folds-3"
        params = tmp_path / "experiment" / name / "params.yaml"
        data = yaml.safe_load(params.read_text())["data"]
        assert (data["folds"], data["fold"]) == (3, fold)
    report = run_module("bookkeeping.report", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    grouped = report.stdout.split("mean +- std:\n")[1].splitlines()[1:]
    assert len(grouped) == 1 and grouped[0].startswith("unet_synthetic_debug_fast_data.fold-* (3)")
