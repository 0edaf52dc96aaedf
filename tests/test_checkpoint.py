"""When model/last.ckpt is written: by time, at epoch ends without a write twice in a row, and
on SLURM's time-limit warning, through train() of a tiny net for a few batches."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import lightning as L
import pytest

from tests.test_train import fit
from utils.engine.checkpoint import LastCheckpoint

SAVES = Path("saves.txt")  # in the test's folder: Hydra imports this module again by its name


class CountedCheckpoint(LastCheckpoint):
    """LastCheckpoint that also notes the global step of each save it makes."""

    def save(self, trainer: L.Trainer) -> None:
        super().save(trainer)
        with open(SAVES, "a") as saves:
            saves.write(f"{trainer.global_step}\n")


def saved_steps() -> list[int]:
    return [int(line) for line in SAVES.read_text().split()] if SAVES.is_file() else []


@pytest.fixture(autouse=True)
def in_a_project_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def fit_counting(tmp_path: Path, dataset: Path, *overrides: str) -> list[int]:
    fit(
        tmp_path,
        dataset,
        "exp_name=counted",
        "trainer.max_epochs=2",
        "callbacks.last_checkpoint._target_=tests.test_checkpoint.CountedCheckpoint",
        *overrides,
    )
    return saved_steps()


@pytest.mark.slow
def test_every_epoch_end_when_no_interval_is_due(tmp_path: Path, dataset: Path) -> None:
    # TINY runs 3 batches an epoch; 60 minutes never come due in them.
    assert fit_counting(tmp_path, dataset, "callbacks.last_checkpoint.every_n_minutes=60") == [3, 6]


def test_by_time_and_never_twice_at_one_step(tmp_path: Path, dataset: Path) -> None:
    # An interval that is always due: a save after every batch, none again at the epoch end.
    steps = fit_counting(tmp_path, dataset, "callbacks.last_checkpoint.every_n_minutes=1e-9")
    assert steps == [1, 2, 3, 4, 5, 6]


@pytest.mark.slow
def test_by_batch_count_too(tmp_path: Path, dataset: Path) -> None:
    steps = fit_counting(
        tmp_path,
        dataset,
        "callbacks.last_checkpoint.every_n_minutes=null",
        "callbacks.last_checkpoint.every_n_train_batches=2",
    )
    assert steps == [2, 3, 4, 6]


class SignalledCheckpoint(CountedCheckpoint):
    """Sends this process SIGUSR2, as SLURM does before a time limit, during the first batch."""

    def on_train_batch_start(self, *args: object) -> None:
        if not saved_steps():
            os.kill(os.getpid(), signal.SIGUSR2)


def test_the_time_limit_signal_saves_at_the_end_of_its_batch(tmp_path: Path, dataset: Path) -> None:
    """Saved at the end of the signal's batch, then stopped with status 128 + SIGUSR2 for the
    scheduler to requeue; the handler that was there before (submitit's) is back afterwards."""
    before = signal.getsignal(signal.SIGUSR2)
    with pytest.raises(SystemExit) as stopped:
        fit_counting(
            tmp_path,
            dataset,
            "callbacks.last_checkpoint._target_=tests.test_checkpoint.SignalledCheckpoint",
            "callbacks.last_checkpoint.every_n_minutes=60",
        )
    assert stopped.value.code == 128 + signal.SIGUSR2
    assert saved_steps() == [1]
    signal.signal(signal.SIGUSR2, before)
