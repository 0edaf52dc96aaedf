"""The README's table of wrong inputs, row by row, through the real command line.

Each row of the table under "## When something is wrong" names a mistake and the message it
gets; here each mistake is made for real, and the run must stop with exit status 1, no traceback,
and a message that holds every backticked fragment of the row and each detail the row promises
(the file's path, both sizes, the values found, the options that exist, torch's reason...), read
from what the mistake really made. A row without a scenario here, or a scenario without a row,
fails the suite: the table cannot drift.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO, run_script

pytestmark = pytest.mark.slow
QUIET = ("callbacks.progress_bar=null", "+trainer.enable_progress_bar=false")
MODEL_OPTIONS = sorted(path.stem for path in (REPO / "conf/model").glob("*.yaml"))


def readme_rows() -> dict[str, list[str]]:
    """{mistake: the backticked fragments of the message the README promises} from its table."""
    section = (REPO / "README.md").read_text().split("## When something is wrong")[1]
    rows = {}
    for line in section.split("\n## ")[0].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and (fragments := re.findall(r"`([^`]+)`", cells[1])):
            rows[cells[0]] = fragments
    return rows


def says(message: str, words: str) -> bool:
    """`words` stand in `message` on their own: `pix2pix` is not found in `pix2pix_paper`."""
    return re.search(rf"(?<!\w){re.escape(words)}(?!\w)", message) is not None


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, dataset: Path) -> Path:
    """A project folder with one finished experiment, `done`."""
    root = tmp_path_factory.mktemp("trained")
    done = run_script(
        "train.py", "debug=fast", f"data.root={dataset}", "exp_name=done", *QUIET, cwd=root
    )
    assert done.returncode == 0, done.stderr
    return root


Outcome = tuple[subprocess.CompletedProcess, list[str]]


@dataclass(frozen=True)
class Scenario:
    """A mistake made for real.

    `make(tmp, dataset, done project)` makes it and returns the finished run with the details its
    message must hold. `then`: what the README says comes after the first fragment ("then the
    options that exist"). `wording`: how the message words a fragment the README writes as a
    placeholder or a symbol (`+key=`, `/`). `never`: what the message must not say.
    """

    make: Callable[[Path, Path, Path], Outcome]
    then: tuple[str, ...] = ()
    wording: dict[str, str] = field(default_factory=dict)
    never: tuple[str, ...] = ()


def train_on(data: Path, cwd: Path, *overrides: str) -> subprocess.CompletedProcess:
    return run_script("train.py", "debug=fast", f"data.root={data}", *QUIET, *overrides, cwd=cwd)


def broken(damage: Callable[[Path, list[str]], list[str]]) -> Callable[[Path, Path, Path], Outcome]:
    """Training on a copy of the dataset with `damage(root, train manifest line)` applied; the
    details are what `damage` returns, read from the files it changed."""

    def make(tmp: Path, dataset: Path, done: Path) -> Outcome:
        root = shutil.copytree(dataset, tmp / "data")
        details = damage(root, (root / "train.txt").read_text().split())
        return train_on(root, tmp), details

    return make


def corrupt_image(root: Path, fields: list[str]) -> list[str]:
    image = root / fields[0]
    image.write_bytes(image.read_bytes()[:200])
    return [str(image)]


def dangling_line(root: Path, fields: list[str]) -> list[str]:
    with open(root / "train.txt", "a") as manifest:
        manifest.write(f"nowhere.tif {fields[1]} {fields[2]}\n")
    return [str(root / "nowhere.tif")]


def pixels(path: Path) -> str:
    """Width x height of an image, as the messages write sizes."""
    width, height = Image.open(path).size
    return f"{width}x{height}"


def small_label(root: Path, fields: list[str]) -> list[str]:
    label = root / fields[1]
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(label)
    return [str(label), pixels(label), pixels(root / fields[0])]


def grey_label(root: Path, fields: list[str]) -> list[str]:
    label = root / fields[1]
    values = np.array(Image.open(label))
    values[values == 255] = 128
    Image.fromarray(values).save(label)
    found = np.unique(np.array(Image.open(label).convert("L")))  # grey levels, not GIF indices
    return [str(label), ", ".join(str(value) for value in found)]


def leak(root: Path, fields: list[str]) -> list[str]:
    with open(root / "test.txt", "a") as manifest:
        manifest.write(" ".join(fields[:3]) + "\n")
    return [str(root / fields[0])]


def damaged_checkpoint(tmp: Path, dataset: Path, done: Path) -> Outcome:
    import torch

    checkpoint = done / "experiment/done/model/best.ckpt"
    checkpoint.write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(Exception) as reason:
        torch.load(checkpoint, map_location="cpu", weights_only=True)
    return run_script("test.py", "exp_name=done", cwd=done), [str(reason.value)]


def lost_statistics(tmp: Path, dataset: Path, done: Path) -> Outcome:
    (done / "experiment/done/data_statistics.json").unlink()
    return run_script(
        "predict.py", "exp_name=done", f"input={dataset / 'test/images'}", cwd=done
    ), ["overwrite=true"]


SCENARIOS: dict[str, Scenario] = {
    "DRIVE not unzipped into `data/DRIVE/`": Scenario(
        lambda tmp, data, done: (run_script("train.py", "data=drive", cwd=tmp), []),
        then=("data/DRIVE/training/images", "unzip", "data=synthetic instead of data=drive"),
    ),
    "an image that cannot be decoded": Scenario(broken(corrupt_image)),
    "a manifest line that points nowhere": Scenario(broken(dangling_line)),
    "a label of another size than its image": Scenario(broken(small_label)),
    "a label with values other than 0 and 255": Scenario(broken(grey_label)),
    "one image in two splits": Scenario(broken(leak)),
    "a key spelled wrong": Scenario(
        lambda tmp, data, done: (run_script("train.py", "trainer.max_epoch=3", cwd=tmp), []),
        wording={"+key=": "+trainer.max_epoch="},
    ),
    "a group option that does not exist": Scenario(
        lambda tmp, data, done: (run_script("train.py", "model=resnet", cwd=tmp), []),
        then=tuple(MODEL_OPTIONS),
    ),
    "the name of an existing experiment": Scenario(
        lambda tmp, data, done: (
            train_on(data, done, "exp_name=done", "overwrite=false"),
            ["experiment/done", "overwrite=true", "exp_name="],
        )
    ),
    "a name that is not one plain folder name": Scenario(
        lambda tmp, data, done: (
            train_on(data, tmp, "exp_name=../elsewhere"),
            ["exp_name='../elsewhere'"],
        ),
        # The rule refuses `..` by the first character it asks for.
        then=("starting with a letter or digit", "spaces", "'/'", "'='"),
        wording={"..": "starting with a letter or digit", "/": "'/'", "=": "'='"},
    ),
    "a damaged checkpoint": Scenario(
        damaged_checkpoint, never=("weights_only=False", "`weights_only` set to `False`")
    ),
    "an experiment without its data_statistics.json": Scenario(lost_statistics),
    "`resume=true` with another setting": Scenario(
        lambda tmp, data, done: (
            run_script("train.py", "exp_name=done", "resume=true", "model=pix2pix", cwd=done),
            ["experiment/done"],
        )
    ),
}


def test_every_row_of_the_table_has_a_scenario() -> None:
    rows = readme_rows()
    assert set(rows) == set(SCENARIOS)
    for mistake, scenario in SCENARIOS.items():
        assert set(scenario.wording) <= set(rows[mistake]), f"{mistake}: a fragment the row lost"


@pytest.mark.parametrize("mistake", list(SCENARIOS))
def test_each_mistake_gets_the_promised_message(
    mistake: str, tmp_path: Path, dataset: Path, trained: Path
) -> None:
    done = shutil.copytree(trained, tmp_path / "project")
    scenario = SCENARIOS[mistake]
    result, details = scenario.make(tmp_path, dataset, done)
    message = result.stderr
    assert result.returncode == 1, result.stdout + message
    assert "Traceback" not in message
    fragments = [scenario.wording.get(fragment, fragment) for fragment in readme_rows()[mistake]]
    for fragment in fragments:
        assert fragment in message, f"README promises {fragment!r}; got:\n{message}"
    for detail in details:
        assert says(message, detail), f"the message lacks {detail!r}:\n{message}"
    after = message.split(fragments[0], 1)[1]
    for detail in scenario.then:
        assert says(after, detail), f"{detail!r} should follow {fragments[0]!r}:\n{message}"
    for phrase in scenario.never:
        assert phrase not in message, f"the message says {phrase!r}:\n{message}"
