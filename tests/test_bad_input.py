"""The README's table of wrong inputs, row by row, through the real command line.

Each row of the table under "## When something is wrong" names a mistake and the message it
gets; here each mistake is made for real, and the run must stop with that message (which names
the file or key at fault and what to do), exit status 1, and no traceback. A row without a
scenario here, or a scenario without a row, fails the suite: the table cannot drift.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO, run_script

pytestmark = pytest.mark.slow
QUIET = ("callbacks.progress_bar=null", "+trainer.enable_progress_bar=false")


def readme_rows() -> dict[str, str]:
    """{mistake: the message fragment the README promises} from the README's table."""
    section = (REPO / "README.md").read_text().split("## When something is wrong")[1]
    rows = {}
    for line in section.split("\n## ")[0].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and (fragment := re.search(r"`([^`]+)`", cells[1])):
            rows[cells[0]] = fragment.group(1)
    return rows


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, dataset: Path) -> Path:
    """A project folder with one finished experiment, `done`."""
    root = tmp_path_factory.mktemp("trained")
    done = run_script(
        "train.py", "debug=fast", f"data.root={dataset}", "exp_name=done", *QUIET, cwd=root
    )
    assert done.returncode == 0, done.stderr
    return root


Scenario = Callable[[Path, Path, Path], subprocess.CompletedProcess]


def train_on(data: Path, cwd: Path, *overrides: str) -> subprocess.CompletedProcess:
    return run_script("train.py", "debug=fast", f"data.root={data}", *QUIET, *overrides, cwd=cwd)


def broken(dataset: Path, tmp: Path, damage: Callable[[Path, list[str]], None]) -> Path:
    """A copy of the dataset with `damage(root, train manifest lines)` applied."""
    root = shutil.copytree(dataset, tmp / "data")
    damage(root, (root / "train.txt").read_text().split())
    return root


def corrupt_image(root: Path, fields: list[str]) -> None:
    (root / fields[0]).write_bytes((root / fields[0]).read_bytes()[:200])


def dangling_line(root: Path, fields: list[str]) -> None:
    with open(root / "train.txt", "a") as manifest:
        manifest.write(f"nowhere.tif {fields[1]} {fields[2]}\n")


def small_label(root: Path, fields: list[str]) -> None:
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(root / fields[1])


def grey_label(root: Path, fields: list[str]) -> None:
    label = np.array(Image.open(root / fields[1]))
    label[label == 255] = 128
    Image.fromarray(label).save(root / fields[1])


def leak(root: Path, fields: list[str]) -> None:
    with open(root / "test.txt", "a") as manifest:
        manifest.write(" ".join(fields[:3]) + "\n")


SCENARIOS: dict[str, Scenario] = {
    "DRIVE not unzipped into `data/DRIVE/`": lambda tmp, data, done: run_script(
        "train.py", "data=drive", cwd=tmp
    ),
    "an image that cannot be decoded": lambda tmp, data, done: train_on(
        broken(data, tmp, corrupt_image), tmp
    ),
    "a manifest line that points nowhere": lambda tmp, data, done: train_on(
        broken(data, tmp, dangling_line), tmp
    ),
    "a label of another size than its image": lambda tmp, data, done: train_on(
        broken(data, tmp, small_label), tmp
    ),
    "a label with values other than 0 and 255": lambda tmp, data, done: train_on(
        broken(data, tmp, grey_label), tmp
    ),
    "one image in two splits": lambda tmp, data, done: train_on(broken(data, tmp, leak), tmp),
    "a key spelled wrong": lambda tmp, data, done: run_script(
        "train.py", "trainer.max_epoch=3", cwd=tmp
    ),
    "a group option that does not exist": lambda tmp, data, done: run_script(
        "train.py", "model=resnet", cwd=tmp
    ),
    "the name of an existing experiment": lambda tmp, data, done: train_on(
        data, done, "exp_name=done", "overwrite=false"
    ),
    "a name that is not one plain folder name": lambda tmp, data, done: train_on(
        data, tmp, "exp_name=../elsewhere"
    ),
    "a damaged checkpoint": lambda tmp, data, done: (
        (done / "experiment/done/model/best.ckpt").write_bytes(b"PK\x03\x04 cut short"),
        run_script("test.py", "exp_name=done", cwd=done),
    )[1],
    "`resume=true` with another setting": lambda tmp, data, done: run_script(
        "train.py", "exp_name=done", "resume=true", "model=pix2pix", cwd=done
    ),
}


def test_every_row_of_the_table_has_a_scenario() -> None:
    assert set(readme_rows()) == set(SCENARIOS)


@pytest.mark.parametrize("mistake", list(SCENARIOS))
def test_each_mistake_gets_the_promised_message(
    mistake: str, tmp_path: Path, dataset: Path, trained: Path
) -> None:
    done = shutil.copytree(trained, tmp_path / "project")
    result = SCENARIOS[mistake](tmp_path, dataset, done)
    promised = readme_rows()[mistake]
    assert result.returncode == 1, result.stdout + result.stderr
    assert promised in result.stderr, f"README promises {promised!r}; got:\n{result.stderr}"
    assert "Traceback" not in result.stderr
