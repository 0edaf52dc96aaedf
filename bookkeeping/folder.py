"""experiment/<name>/: the one owner of an experiment folder's name rule and of every path in it.

    experiment/<name>/
        params.yaml      the resolved configuration, nothing else
        record.yaml      how it ran: command, overrides, code, data, machine, sessions
        data_statistics.json  the training images' statistics (predict.py: scale, shift report)
        git.patch        the uncommitted changes of the code, when there were any
        log/             train.log, and tensorboard/, csv/, wandb/ from the loggers
        model/           best.ckpt (the task's best validation score), last.ckpt (the full
                         state, for resume)
        result/          metrics.json and what the task's result writer adds (test.py),
                         on_<dataset>/ holding the same (test.py data=<dataset>),
                         predict/<input>/ (predict.py)

Code asks an ExperimentFolder for these paths; conf/ asks the `${exp_folder:<attribute>}`
resolver (bookkeeping/config.py), which asks one too. Nobody else spells them.

Safety rules, because a name typed on the command line ends up in `shutil.rmtree`:
- a name is one plain folder name (NAME_RULE), checked before any path is built from it;
- a folder appears atomically, with its params.yaml, or not at all: of two runs started together
  with one name, one gets the folder and the other the "already exists" message;
- a running training holds the name's lock (`locked`): a second run of that name stops, even
  with overwrite=true, instead of deleting the first one's files;
- `remove` deletes only a real folder directly inside the root that holds params.yaml or
  record.yaml (or nothing but empty folders), never what a symbolic link points to.
Standard library only at module level.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from utils.base import UserError

NAME_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
NOT_IN_NAMES = re.compile(r"[^A-Za-z0-9_.-]+")  # runs of what NAME_RULE does not allow
NAME_MAX = 200
SUBFOLDERS = ("log", "model", "result")
CHECKPOINTS = ("best", "last")
OTHER_DATASET = "on_"  # result/on_<dataset>/: test results on a dataset it was not trained on


class ExperimentError(UserError):
    """A problem with an experiment's name, folder, record or checkpoints."""


def name_from(text: str) -> str:
    """`text` with each run of characters a name may not hold replaced by `-` (not checked:
    leading and trailing characters are the caller's to trim)."""
    return NOT_IN_NAMES.sub("-", text)


def check_name(name: object, key: str = "exp_name") -> str:
    """Return `name` if it is a valid experiment name; raise ExperimentError saying the rule
    (and naming `key`, where the name was given)."""
    text = "" if name is None else str(name)
    if len(text) > NAME_MAX or not NAME_RULE.fullmatch(text):
        raise ExperimentError(
            f"{key}={text!r} is not a valid experiment name. A name is one folder name of "
            f"at most {NAME_MAX} characters: letters, digits, '_', '-' and '.', starting with a "
            "letter or digit (e.g. unet_drive_aug or unet_seed-2); no spaces, '/', '=' or ','. "
            f"It must stay inside the experiment root and paste back as {key}=<name>."
        )
    return text


class ExperimentFolder:
    """The folder `<root>/<name>/` of one experiment and the paths inside it.

    Building one checks the name; nothing touches the disk until `create` or `remove`. With
    `tested_on`, the test results' paths are those of that dataset's (`on(dataset)`).
    """

    def __init__(self, root: str | Path, name: str, tested_on: str | None = None) -> None:
        self.name = check_name(name)
        self.root = Path(root)
        self.path = self.root / self.name
        self.tested_on = None if tested_on is None else check_name(tested_on)

    def on(self, dataset: str | None) -> ExperimentFolder:
        """This folder, with test results on `dataset` (None: the experiment's own test split)."""
        return ExperimentFolder(self.root, self.name, dataset)

    def tested_elsewhere(self) -> dict[str, Path]:
        """{dataset: its metrics.json} of every other dataset test.py scored this experiment on."""
        found = sorted(self.result_dir.glob(f"{OTHER_DATASET}*/metrics.json"))
        return {path.parent.name.removeprefix(OTHER_DATASET): path for path in found}

    def __repr__(self) -> str:
        return f"ExperimentFolder({str(self.root)!r}, {self.name!r})"

    # The layout. Adding a file to the experiment folder starts here.
    @property
    def params(self) -> Path:
        return self.path / "params.yaml"

    @property
    def record(self) -> Path:
        return self.path / "record.yaml"

    @property
    def patch(self) -> Path:
        return self.path / "git.patch"

    @property
    def log_dir(self) -> Path:
        return self.path / "log"

    @property
    def text_log(self) -> Path:
        return self.log_dir / "train.log"

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def best_checkpoint(self) -> Path:
        return self.model_dir / "best.ckpt"

    @property
    def last_checkpoint(self) -> Path:
        return self.model_dir / "last.ckpt"

    @property
    def result_dir(self) -> Path:
        return self.path / "result"

    @property
    def test_dir(self) -> Path:
        """result/, or result/on_<dataset>/ for the test split of another dataset (`tested_on`)."""
        if self.tested_on is None:
            return self.result_dir
        return self.result_dir / f"{OTHER_DATASET}{self.tested_on}"

    @property
    def metrics(self) -> Path:
        return self.test_dir / "metrics.json"

    @property
    def data_statistics(self) -> Path:
        """The training split's image statistics, kept for predict.py's scale and shift report."""
        return self.path / "data_statistics.json"

    def prediction_dir(self, input_name: str) -> Path:
        """result/predict/<input_name>/: what predict.py writes for one input folder or file."""
        return self.result_dir / "predict" / check_name(input_name)

    def fresh_prediction_dir(self, input_name: str) -> Path:
        """`prediction_dir(input_name)`, emptied: a second predict.py run into the same folder
        leaves only what it wrote, never maps of photographs it did not see."""
        out = self.prediction_dir(input_name)
        if out.is_symlink() or out.is_file():
            out.unlink()
        elif out.is_dir():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        return out

    def is_experiment(self) -> bool:
        """True when the folder holds the files every experiment starts with."""
        return self.params.is_file() or self.record.is_file()

    def occupied(self) -> bool:
        """True when something (a folder, a file, a link) already has this name."""
        return self.path.exists() or self.path.is_symlink()

    def create(self, params_text: str, overwrite: bool = False) -> None:
        """Create the folder with its subfolders and params.yaml, atomically.

        The folder is assembled under a hidden temporary name and renamed into place, which
        fails if the name is taken: two runs started together cannot share a folder. An
        existing experiment is refused unless `overwrite`, and then removed by `remove`'s rules.
        """
        if self.occupied():
            if not overwrite:
                raise self.exists_error()
            self.remove()
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{self.name}.", dir=self.root))
        try:
            for name in SUBFOLDERS:
                (staging / name).mkdir()
            (staging / self.params.name).write_text(params_text)
            try:
                # rename() replaces nothing but an empty folder: a full one or a link makes it fail.
                os.rename(staging, self.path)
            except OSError:
                raise self.exists_error() from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold this name's lock for the block: a second run of the same name, started while this
        one runs (with overwrite=true or not), stops with a message instead of touching its files.

        The lock is the operating system's (flock on `<root>/.<name>.lock`), so it goes with the
        process, however it ends; the small lock file stays (deleting it would let a third run
        lock a new file while the second still holds the old one).
        """
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        lock_path = self.root / f".{self.name}.lock"
        with open(lock_path, "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.seek(0)
                holder = lock.read().strip() or "another process"
                raise ExperimentError(
                    f"experiment {self.path} is in use by a run that has not ended "
                    f"({holder}). Wait for it to end, or choose another name "
                    "(exp_name=<new-name>)."
                ) from None
            lock.truncate(0)
            lock.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
            lock.flush()
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def exists_error(self) -> ExperimentError:
        return ExperimentError(
            f"experiment folder {self.path} already exists. Add resume=true to continue it from "
            "its last checkpoint, overwrite=true to delete it and start again, or choose "
            "another name (exp_name=<new-name>)."
        )

    def remove(self) -> None:
        """Delete this experiment's folder; refuse anything that does not look like one."""
        self.check_removable()
        if self.path.exists():
            shutil.rmtree(self.path.resolve())

    def check_removable(self) -> None:
        """Raise an ExperimentError unless `remove` may delete what has this name (nothing, or a
        real experiment folder directly inside the root): checked before a run builds anything."""
        if self.path.is_symlink():
            raise ExperimentError(
                f"{self.path} is a symbolic link (to {os.readlink(self.path)}): overwrite=true "
                "deletes only real experiment folders, never what a link points to. Remove the "
                "link yourself, or choose another exp_name."
            )
        if not self.path.exists():
            return
        real = self.path.resolve()
        if not self.path.is_dir() or real.parent != self.root.resolve():
            raise ExperimentError(
                f"{self.path} is not a folder directly inside {self.root}/, so overwrite=true "
                "will not delete it. Choose another exp_name."
            )
        if not (self.is_experiment() or _holds_no_file(real)):
            raise ExperimentError(
                f"{self.path} holds no params.yaml or record.yaml, so it is not an experiment "
                "folder, and overwrite=true deletes only experiment folders. Move it away "
                "yourself, or choose another exp_name."
            )

    def require(self) -> ExperimentFolder:
        """Return self if the experiment exists; else raise, listing the experiments there are."""
        if not self.params.is_file():
            found = ", ".join(f.name for f in experiments(self.root))
            listing = found or "none yet: run python train.py first"
            raise ExperimentError(
                f"{self.params} does not exist. Experiments in {self.root}/: {listing}."
            )
        return self

    def load_params(self) -> Any:
        """The experiment's params.yaml as an OmegaConf DictConfig."""
        from omegaconf import OmegaConf

        return OmegaConf.load(self.require().params)

    def load_data_statistics(self) -> dict:
        """The training split's statistics that train.py kept when it made the folder
        (data_statistics.json): what test.py and predict.py feed the model by."""
        if not self.require().data_statistics.is_file():
            raise ExperimentError(
                f"{self.data_statistics} is missing: train.py writes it beside params.yaml, and "
                "without it the experiment cannot be fed as it was trained. Restore it (git "
                "commits it on an experiment branch) or train again: python train.py "
                f"exp_name={self.name} overwrite=true"
            )
        return json.loads(self.data_statistics.read_text())

    def checkpoint(self, which: str) -> Path:
        """The `best` or `last` checkpoint, or the file `which` names."""
        path = getattr(self, f"{which}_checkpoint") if which in CHECKPOINTS else Path(which)
        if not path.is_file():
            raise ExperimentError(
                f"checkpoint {path} does not exist. Use checkpoint=best, "
                "checkpoint=last or checkpoint=<path to a .ckpt file>."
            )
        return path

    def moved_params(self, params: Any, old_name: str) -> Any:
        """A resolved config of experiment `old_name` with its folders and name pointed here.

        params.yaml spells every folder of its run in full (experiment/<old>/model/...), under
        the experiment root the run was given (paths.experiment_root).
        """
        root = (params.get("paths") or {}).get("experiment_root", str(self.root))
        old_dir, new_dir = f"{root}/{old_name}", f"{root}/{self.name}"

        def repoint(value: Any) -> Any:
            if isinstance(value, dict):
                return {key: repoint(item) for key, item in value.items()}
            if isinstance(value, list):
                return [repoint(item) for item in value]
            if isinstance(value, str) and (value == old_dir or value.startswith(old_dir + "/")):
                return new_dir + value[len(old_dir) :]
            return value

        return {**repoint(params), "exp_name": self.name}

    def rename(self, new_name: str) -> ExperimentFolder:
        """Move the folder to `new_name` (refused if taken) and rewrite its params.yaml there."""
        import yaml

        new = ExperimentFolder(self.root, new_name)
        if new.occupied():
            raise new.exists_error()
        os.rename(self.path, new.path)
        if new.params.is_file():
            params = yaml.safe_load(new.params.read_text()) or {}
            moved = new.moved_params(params, self.name)
            new.params.write_text(yaml.safe_dump(moved, sort_keys=False))
        return new


def _holds_no_file(folder: Path) -> bool:
    """True for a folder tree with nothing but empty folders: deleting it loses nothing."""
    return all(path.is_dir() and not path.is_symlink() for path in folder.rglob("*"))


def experiments(root: str | Path) -> list[ExperimentFolder]:
    """The experiments under `root` (folders with a params.yaml), by name."""
    found = []
    for params in sorted(Path(root).glob("*/params.yaml")):
        if NAME_RULE.fullmatch(params.parent.name):
            found.append(ExperimentFolder(root, params.parent.name))
    return found
