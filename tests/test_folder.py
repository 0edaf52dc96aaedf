"""The experiment folder: its name rule, atomic creation and the deletion rules of overwrite=true.

Every check runs on real folders; the deletion tests hash every file around the experiment root
before and after, so anything deleted that should not have been is caught.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from bookkeeping.folder import ExperimentError, ExperimentFolder, check_name, experiments
from tests.conftest import REPO, script_env

BAD_NAMES = ["..", ".", "", "/tmp/elsewhere", "a/b", "../escape", "has space", "x=1", "a,b", "-x"]


def tree_digest(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file and link under root."""
    digest = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            digest[str(path.relative_to(root))] = "link:" + str(path.readlink())
        elif path.is_file():
            digest[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with code, data, one real experiment and a folder outside it."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src/model.py").write_text("weights = 1\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git/HEAD").write_text("ref: refs/heads/main\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside/precious.txt").write_text("keep me\n")
    ExperimentFolder(tmp_path / "experiment", "kept").create("seed: 1\n")
    return tmp_path


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused_before_any_path_is_built(name: str) -> None:
    with pytest.raises(ExperimentError, match="is not a valid experiment name") as error:
        ExperimentFolder("experiment", name)
    assert repr(name) in str(error.value) and "letters, digits" in str(error.value)


@pytest.mark.parametrize(
    "name", ["unet_synthetic_noaug", "TEMP_UNET_DRIVE_AUG", "unet_seed-2", "a.b"]
)
def test_good_names_pass(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", BAD_NAMES)
def test_overwrite_with_a_bad_name_deletes_nothing(project: Path, name: str) -> None:
    before = tree_digest(project)
    with pytest.raises(ExperimentError):
        ExperimentFolder(project / "experiment", name).create("seed: 2\n", overwrite=True)
    assert tree_digest(project) == before


def test_overwrite_never_follows_a_link_out_of_the_root(project: Path) -> None:
    (project / "experiment/link").symlink_to(project / "outside")
    before = tree_digest(project)
    with pytest.raises(ExperimentError, match="symbolic link"):
        ExperimentFolder(project / "experiment", "link").create("seed: 2\n", overwrite=True)
    assert tree_digest(project) == before


def test_overwrite_refuses_a_folder_that_is_not_an_experiment(project: Path) -> None:
    notes = project / "experiment/notes"
    notes.mkdir()
    (notes / "ideas.txt").write_text("try lr 1e-4\n")
    before = tree_digest(project)
    with pytest.raises(ExperimentError, match="not an experiment folder"):
        ExperimentFolder(project / "experiment", "notes").create("seed: 2\n", overwrite=True)
    assert tree_digest(project) == before


def test_overwrite_replaces_only_its_own_experiment(project: Path) -> None:
    folder = ExperimentFolder(project / "experiment", "kept")
    folder.last_checkpoint.write_bytes(b"old weights")
    before = tree_digest(project)
    with pytest.raises(ExperimentError, match="already exists.*resume=true.*overwrite=true"):
        folder.create("seed: 2\n")
    assert tree_digest(project) == before
    folder.create("seed: 2\n", overwrite=True)
    after = tree_digest(project)
    assert after.pop("experiment/kept/params.yaml") != before.pop("experiment/kept/params.yaml")
    del before["experiment/kept/model/last.ckpt"]
    assert after == before, "nothing but the experiment's own files changed"
    assert {p.name for p in folder.path.iterdir()} == {"params.yaml", "log", "model", "result"}


def test_a_leftover_of_empty_folders_may_be_overwritten(tmp_path: Path) -> None:
    leftover = ExperimentFolder(tmp_path, "killed")
    (leftover.path / "log").mkdir(parents=True)
    leftover.create("seed: 3\n", overwrite=True)
    assert leftover.params.read_text() == "seed: 3\n"


def test_two_processes_cannot_share_a_folder(tmp_path: Path) -> None:
    """Both start together; exactly one gets the folder, the other the 'already exists' error."""
    racer = (
        "import sys, time\n"
        "from bookkeeping.folder import ExperimentFolder, ExperimentError\n"
        "time.sleep(max(0.0, float(sys.argv[1]) - time.time()))\n"
        "try:\n"
        "    ExperimentFolder(sys.argv[2], 'same').create(f'racer: {sys.argv[3]}\\n')\n"
        "    print('created')\n"
        "except ExperimentError as error:\n"
        "    sys.exit(f'error: {error}')\n"
    )
    import time

    start = str(time.time() + 1.0)
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", racer, start, str(tmp_path), str(n)],
            cwd=REPO,
            env=script_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (1, 2)
    ]
    results = [(r.wait(timeout=60), r.stdout.read(), r.stderr.read()) for r in racers]
    assert sorted(code for code, _, _ in results) == [0, 1], results
    loser = next(err for code, _, err in results if code)
    assert "already exists" in loser
    winner = next(n for n, (code, _, _) in zip((1, 2), results, strict=True) if code == 0)
    assert (tmp_path / "same/params.yaml").read_text() == f"racer: {winner}\n"
    assert [p.name for p in tmp_path.iterdir()] == ["same"], "no staging folder left behind"


def test_paths_and_listing(tmp_path: Path) -> None:
    folder = ExperimentFolder(tmp_path, "run")
    assert folder.last_checkpoint == tmp_path / "run/model/last.ckpt"
    assert folder.metrics == tmp_path / "run/result/metrics.json"
    assert not folder.is_experiment() and experiments(tmp_path) == []
    folder.create("seed: 1\n")
    (tmp_path / "multirun").mkdir()  # sweep files, not an experiment
    assert [f.name for f in experiments(tmp_path)] == ["run"]
    with pytest.raises(ExperimentError, match="Experiments in .*: run"):
        ExperimentFolder(tmp_path, "typo").require()
    with pytest.raises(ExperimentError, match="checkpoint=best"):
        folder.checkpoint("best")


def test_rename_moves_the_folder_and_its_recorded_paths(tmp_path: Path) -> None:
    import yaml

    old = ExperimentFolder(tmp_path, "TEMP_A_B")
    paths = {"experiment_root": str(tmp_path)}
    old.create(yaml.safe_dump({"exp_name": "TEMP_A_B", "paths": paths, "dir": str(old.model_dir)}))
    new = old.rename("MAIN_A_B")
    params = yaml.safe_load(new.params.read_text())
    assert params == {"exp_name": "MAIN_A_B", "paths": paths, "dir": str(new.model_dir)}
    assert not old.path.exists()
