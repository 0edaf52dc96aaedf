"""Checkpoints: the callbacks that write model/best.ckpt and model/last.ckpt, and safe loading.

Checkpoints are read with `torch.load(weights_only=True)`: only tensors and plain containers
are unpickled, so a checkpoint from elsewhere cannot run code.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from utils.base import UserError

log = logging.getLogger(__name__)


class CheckpointError(UserError):
    """A checkpoint that cannot be read, or that does not fit the model."""


class BestCheckpoint(ModelCheckpoint):
    """Keep the single best checkpoint at `path` (Lightning's ModelCheckpoint, named by a path)."""

    def __init__(self, path: str, monitor: str | None, mode: str = "max") -> None:
        path = Path(path)
        super().__init__(
            dirpath=path.parent,
            filename=path.stem,
            monitor=monitor,
            mode=mode,
            save_top_k=1,
            save_last=False,  # last.ckpt is LastCheckpoint's
            auto_insert_metric_name=False,
            enable_version_counter=False,  # one file, replaced, never best-v1.ckpt
        )


class LastCheckpoint(L.Callback):
    """Save the full training state to `path` (model/last.ckpt), what `resume=true` continues.

    It saves every `every_n_minutes` of training (and every `every_n_train_batches` batches, if
    set), at the end of every epoch unless it just did, when the run is
    stopped by Ctrl+C or SIGTERM (what clusters send before pre-emption), and at the end of the
    batch during which SIGUSR2 arrived (SLURM's warning of a time limit), before the scheduler's
    own handler requeues the job. A SIGKILL cannot be
    caught, so it loses the batches since the last save. Each save goes to a temporary file that
    then replaces the checkpoint, so a kill during a save never leaves a truncated one.
    """

    def __init__(
        self,
        path: str,
        every_n_train_batches: int | None = None,
        every_n_minutes: float | None = 2.0,
    ) -> None:
        self.path = Path(path)
        self.every = every_n_train_batches
        self.every_s = None if every_n_minutes is None else 60.0 * every_n_minutes
        self._saved_at = time.monotonic()
        self._saved_step: int | None = None  # global step of the last save: none twice in a row
        self._time_limit: int | None = None  # the signal that announced it, once received
        self._scheduler_handler: Any = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._saved_at = time.monotonic()
        # SLURM announces a time limit with SIGUSR2 (submitit's --signal=USR2@<delay>); its
        # handler requeues the job and exits at once, losing what was trained since the last
        # save. Note the signal, save at the end of the batch, then hand over to the handler.
        if hasattr(signal, "SIGUSR2") and threading.current_thread() is threading.main_thread():
            self._scheduler_handler = signal.signal(signal.SIGUSR2, self._note_time_limit)

    def _note_time_limit(self, signum: int, frame: object) -> None:
        self._time_limit = signum

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        batches = trainer.fit_loop.epoch_loop.total_batch_idx + 1
        if self._time_limit_reached(trainer):
            self.save(trainer)
            self._stop_for_time_limit(trainer)
        if self.every and batches % self.every == 0 or self._save_is_due(trainer):
            self.save(trainer)

    def _save_is_due(self, trainer: L.Trainer) -> bool:
        if self.every_s is None:
            return False
        due = time.monotonic() - self._saved_at >= self.every_s
        # The clocks of several processes differ: rank 0's decides, so that all save together.
        return due if trainer.world_size == 1 else bool(trainer.strategy.broadcast(due, src=0))

    def _time_limit_reached(self, trainer: L.Trainer) -> bool:
        if trainer.world_size == 1:
            return self._time_limit is not None
        # Every rank must save at the same batch (a save is collective), whichever got the signal.
        return trainer.strategy.reduce_boolean_decision(self._time_limit is not None, all=False)

    def _stop_for_time_limit(self, trainer: L.Trainer) -> None:
        log.warning(
            "Time limit signal: saved %s at epoch %d, step %d; stopping (resume=auto continues).",
            self.path,
            trainer.current_epoch,
            trainer.global_step,
        )
        handler, signum = self._scheduler_handler, self._time_limit or signal.SIGUSR2
        if trainer.is_global_zero and callable(handler):
            handler(signum, None)  # submitit: requeue the job, then exit
        raise SystemExit(128 + signum)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._scheduler_handler is not None:
            signal.signal(signal.SIGUSR2, self._scheduler_handler)
            self._scheduler_handler = None

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step != self._saved_step:  # not again right after a periodic save
            self.save(trainer)

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        if isinstance(exception, KeyboardInterrupt | SIGTERMException):
            self.save(trainer)
            log.warning(
                "Stopped at epoch %d, step %d; saved %s. Continue with resume=true.",
                trainer.current_epoch,
                trainer.global_step,
                self.path,
            )

    def save(self, trainer: L.Trainer) -> None:
        """Write the checkpoint atomically (every rank takes part; rank 0 writes)."""
        temporary = self.path.with_name(self.path.name + ".tmp")
        trainer.save_checkpoint(temporary, weights_only=False)  # the full state, to resume
        if trainer.is_global_zero:
            os.replace(temporary, self.path)
        self._saved_at, self._saved_step = time.monotonic(), trainer.global_step


def read_checkpoint(path: Path) -> dict:
    """Load a Lightning checkpoint with only plain tensors and containers unpickled."""
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a damaged file
        # torch's message goes on to suggest weights_only=False: unsafe, and no cure for a
        # damaged file. Its first line says what is wrong.
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"{path} is not a readable Lightning checkpoint ({reason}). It is damaged or was "
            "not written by Lightning: train again, or use another one (checkpoint=last or "
            "checkpoint=<path>)."
        ) from error
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path} holds no model weights: not a Lightning checkpoint.")
    return checkpoint


def load_weights(model: Any, path: Path) -> None:
    """Load a Lightning checkpoint's weights into `model`, saying so when they do not fit."""
    state_dict = read_checkpoint(path)["state_dict"]
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as error:
        raise CheckpointError(
            f"{path} does not fit the model in params.yaml: it was saved by "
            f"another model or configuration.\n{error}"
        ) from error
